"""Pictures and model folders for the trainer tests."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
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


def snapshot(pipe) -> dict:
    """Everything generation depends on in the pipeline's modules."""
    out = {}
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        m = getattr(pipe, name)
        out[name] = {
            "state": {k: v.clone() for k, v in m.state_dict().items()},
            "grad": {k: p.requires_grad for k, p in m.named_parameters()},
            "training": [x.training for x in m.modules()],
            "types": [type(x).__name__ for x in m.modules()],
            "device": {p.device for p in m.parameters()},
            "dtype": {p.dtype for p in m.parameters()},
            "peft_config": set(getattr(m, "peft_config", {}) or {}),
        }
    return out


def assert_same(before: dict, after: dict) -> None:
    for name, b in before.items():
        a = after[name]
        assert a["state"].keys() == b["state"].keys(), f"{name}: layers differ"
        assert all(torch.equal(a["state"][k], b["state"][k]) for k in b["state"]), name
        for key in ("grad", "training", "types", "device", "dtype", "peft_config"):
            assert a[key] == b[key], f"{name}: {key} differs"
