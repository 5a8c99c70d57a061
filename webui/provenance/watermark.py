"""SDXL's invisible watermark: the 48-bit message of Stability's reference code, embedded and
read with the ``dwtDct`` method of ``invisible-watermark`` (``imwatermark``).

Stability's ``sgm/inference/helpers.py`` (and its ``scripts/demo/detect.py``) mark every
SDXL image with::

    WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110  # 0xB3EC907BB19E
    WATERMARK_BITS = [int(bit) for bit in bin(WATERMARK_MESSAGE)[2:]]
    encoder.set_watermark("bits", WATERMARK_BITS); encoder.encode(bgr, "dwtDct")

The method changes the U channel's Haar-DWT approximation in 4x4 blocks (one bit a block,
the 48 bits repeated over the picture), so it needs room: ``imwatermark`` refuses pictures
under 256x256 pixels in all, and diffusers' SDXL watermarker skips pictures under 256 px
wide. Both are skipped here (:func:`too_small`) and the caller says so.

Embedding works on the 8-bit picture as ``cv2.imread`` gives it (BGR, uint8), the form
Stability's detector reads, so a PNG of the marked picture reads back 48 of 48 bits.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

#: Stability's fixed 48-bit message (generative-models, sgm/inference/helpers.py)
WATERMARK_MESSAGE = 0b101100111110110010010000011110111011000110011110
#: its bits, most significant first, as the reference code derives them
WATERMARK_BITS = [int(bit) for bit in bin(WATERMARK_MESSAGE)[2:]]
METHOD = "dwtDct"
#: the narrowest picture that is marked (diffusers' SDXL watermarker skips narrower ones)
MIN_WIDTH = 256
#: the fewest pixels in all (imwatermark refuses fewer: "should be larger than 256x256")
MIN_PIXELS = 256 * 256
#: bits that must match to call the mark found: Stability's detector says "likely
#: watermarked" above 35 of 48 (0.02% of real images reached that in their test) and "very
#: likely" from 49 (never, on 48 bits: all 48 is the most)
FOUND_AT = 36
NOT_MARKED_SMALL = "not watermarked: under 256 px wide (the SDXL watermark needs room)"


class WatermarkUnavailable(RuntimeError):
    """``invisible-watermark`` (and the OpenCV it needs) cannot be imported here."""


@dataclass(frozen=True)
class WatermarkReading:
    """What :func:`read_watermark` found: ``bits_matched`` of ``of`` bits equal SDXL's
    message; ``found`` from :data:`FOUND_AT` on; ``reason`` when nothing could be read."""

    bits_matched: int
    of: int = len(WATERMARK_BITS)
    found: bool = False
    reason: str = ""

    def as_dict(self) -> dict:
        out = {"bits_matched": self.bits_matched, "of": self.of, "found": self.found}
        if self.reason:
            out["reason"] = self.reason
        return out

    def text(self) -> str:
        """``"SDXL watermark: 48/48 bits (found)"``."""
        if self.reason:
            return f"SDXL watermark: not read ({self.reason})"
        verdict = "found" if self.found else "not found"
        return f"SDXL watermark: {self.bits_matched}/{self.of} bits ({verdict})"


_lock = threading.Lock()
_codec = None


def _imwatermark():
    """(encoder, decoder) of ``imwatermark``, made once; ``WatermarkUnavailable`` when the
    package or OpenCV is missing."""
    global _codec
    with _lock:
        if _codec is None:
            try:
                from imwatermark import WatermarkDecoder, WatermarkEncoder
            except Exception as exc:  # noqa: BLE001 - ImportError, or cv2's missing libGL
                raise WatermarkUnavailable(
                    "the invisible watermark needs the invisible-watermark package and "
                    f"OpenCV (pip install -r requirements.txt): {exc}") from exc
            encoder = WatermarkEncoder()
            encoder.set_watermark("bits", WATERMARK_BITS)
            _codec = (encoder, WatermarkDecoder("bits", len(WATERMARK_BITS)))
        return _codec


def available() -> str | None:
    """None when the watermark can be embedded here, else why not."""
    try:
        _imwatermark()
    except WatermarkUnavailable as exc:
        return str(exc)
    return None


def too_small(image: Image.Image) -> bool:
    """True for pictures the method has no room in (skipped, and said so)."""
    return image.width < MIN_WIDTH or image.width * image.height < MIN_PIXELS


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8)[:, :, ::-1])


def embed_watermark(image: Image.Image) -> Image.Image:
    """``image`` with SDXL's 48-bit mark (a new RGB picture; an alpha channel is kept).
    ``ValueError`` for a picture :func:`too_small` holds; ``WatermarkUnavailable`` when the
    library is missing."""
    if too_small(image):
        raise ValueError(NOT_MARKED_SMALL)
    encoder, _ = _imwatermark()
    marked = encoder.encode(_bgr(image), METHOD)
    out = Image.fromarray(np.ascontiguousarray(marked[:, :, ::-1]), "RGB")
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        out.putalpha(image.convert("RGBA").getchannel("A"))
    return out


def read_watermark(image: Image.Image) -> WatermarkReading:
    """How many bits of SDXL's message ``image`` holds (never raises)."""
    if image.width * image.height < MIN_PIXELS:
        return WatermarkReading(0, reason="under 256x256 pixels: too small to hold the mark")
    try:
        _, decoder = _imwatermark()
        bits = decoder.decode(_bgr(image), METHOD)
    except WatermarkUnavailable as exc:
        return WatermarkReading(0, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - a picture the library cannot take
        log.debug("watermark read failed", exc_info=True)
        return WatermarkReading(0, reason=f"cannot read: {exc}")
    matched = int(sum(int(bool(b) == bool(w)) for b, w in zip(bits, WATERMARK_BITS)))
    return WatermarkReading(matched, found=matched >= FOUND_AT)
