"""A1111 "stealth" metadata: an infotext hidden in the least significant bits of the alpha channel
(``stealth_pnginfo``, gzip ``stealth_pngcomp``) or of the RGB channels (``stealth_rgbinfo``,
``stealth_rgbcomp``)."""

from __future__ import annotations

import gzip
import logging

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)


_STEALTH_SIGNATURES = {
    "alpha": {b"stealth_pnginfo": False, b"stealth_pngcomp": True},
    "rgb": {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True},
}


_STEALTH_HEADER_BITS = 15 * 8 + 32


def _lsb_bits(planes: np.ndarray, count: int) -> np.ndarray | None:
    """First ``count`` LSBs of ``planes`` (h, w, c), read column by column (x, then y, then c)."""
    height, width, channels = planes.shape
    columns = -(-count // (height * channels))
    if count <= 0 or columns > width:
        return None
    bits = (planes[:, :columns, :] & 1).transpose(1, 0, 2).reshape(-1)
    return bits[:count].astype(np.uint8)


def _read_stealth_planes(planes: np.ndarray, mode: str) -> str | None:
    header = _lsb_bits(planes, _STEALTH_HEADER_BITS)
    if header is None:
        return None
    signature = np.packbits(header[:120]).tobytes()
    compressed = _STEALTH_SIGNATURES[mode].get(signature)
    if compressed is None:
        return None
    length = int.from_bytes(np.packbits(header[120:]).tobytes(), "big")
    bits = _lsb_bits(planes, _STEALTH_HEADER_BITS + length)
    if bits is None:
        logger.debug("stealth payload length %d does not fit the image", length)
        return None
    payload = np.packbits(bits[_STEALTH_HEADER_BITS:]).tobytes()
    if compressed:
        payload = gzip.decompress(payload)
    return payload.decode("utf-8", errors="replace")


def read_stealth_info(image: Image.Image) -> str | None:
    """Read an A1111 "stealth pnginfo" payload hidden in the pixels' least significant bits.

    Alpha mode (``stealth_pnginfo`` / gzip ``stealth_pngcomp``) is tried on RGBA images, RGB mode
    (``stealth_rgbinfo`` / ``stealth_rgbcomp``) on RGB and RGBA images. Returns ``None`` when there
    is no payload or it cannot be read.
    """
    if image.mode not in ("RGBA", "RGB"):
        return None
    try:
        pixels = np.asarray(image)
        modes = ("alpha", "rgb") if image.mode == "RGBA" else ("rgb",)
        for mode in modes:
            planes = pixels[..., 3:4] if mode == "alpha" else pixels[..., :3]
            text = _read_stealth_planes(planes, mode)
            if text:
                return text
    except Exception:
        logger.debug("cannot read stealth metadata", exc_info=True)
    return None
