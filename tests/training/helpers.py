"""Pictures and model folders for the trainer tests."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def pattern(seed: int, width: int = 64, height: int = 64) -> Image.Image:
    """A smooth coloured wave pattern (structure the VAE keeps, unlike pixel noise)."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    c = r.uniform(0, 1, (3, 3))
    arr = np.stack([255 * c[k, 0] * (0.5 + 0.5 * np.sin(2 * np.pi * (x * (1 + 3 * c[k, 1])
                                                                      + y * 3 * c[k, 2])))
                    for k in range(3)], -1)
    return Image.fromarray(arr.astype(np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def huge_png_header(width: int = 10_000, height: int = 10_000) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (100 megapixels by default) but which
    holds a few bytes: enough for any reader that checks the size before decoding."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b""))


def models_copy(tiny_models_dir: Path, target: Path, names=("tiny-sdxl-a",)) -> Path:
    """A models folder of its own (the session's tiny models are shared by every test:
    a LoRA trained here must not appear in their Lora folder)."""
    for name in names:
        shutil.copytree(tiny_models_dir / "Stable-diffusion" / name,
                        target / "Stable-diffusion" / name)
    (target / "Lora").mkdir(parents=True, exist_ok=True)
    return target


def files_under(folder: Path) -> set[Path]:
    return {p for p in Path(folder).rglob("*")} if Path(folder).exists() else set()
