"""Pictures for the watermark tests: textured like a photograph (1/f noise), seeded."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def textured(seed: int = 0, width: int = 512, height: int = 512) -> Image.Image:
    """A colour picture with a photograph's 1/f spectrum (the dwtDct mark needs texture:
    on large flat areas it reads back partly, see the README)."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
        x = np.fft.irfft2(spectrum, (height, width))
        channels.append((x - x.mean()) / x.std())
    a = np.stack(channels, -1) @ rng.uniform(0.3, 1.0, (3, 3))
    a = (a - a.min(axis=(0, 1))) / np.ptp(a, axis=(0, 1))
    return Image.fromarray((a * 235 + 10).astype(np.uint8), "RGB")


def reencode(image: Image.Image, **save) -> Image.Image:
    """``image`` saved with Pillow's ``save`` options and read back (RGB)."""
    buf = io.BytesIO()
    image.save(buf, **save)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
