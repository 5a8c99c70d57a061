"""Image helpers shared by the request, img2img, inpaint and outpaint: reading uploads safely,
A1111's resize modes (names in ``webui.choices.RESIZE_MODES``), mask blur and crop regions,
filling the masked area. Plain PIL and numpy: it imports only ``webui.errors``.

Masks are ``L`` images, white (255) = repaint.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from webui.errors import RequestError

log = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
BACKGROUND = (255, 255, 255)  # transparent areas are flattened onto white, as A1111 does


class ImageReadError(RequestError):
    """An upload that is not a usable image; the message is shown to the user."""


def open_image(source, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, what: str = "image"):
    """Read ``source`` (path, bytes or PIL image) fully, honouring EXIF orientation.

    Raises ``ImageReadError`` with a plain message for an empty file, a non-image, a damaged
    or truncated file, or one larger than ``max_pixels``.
    """
    if source is None:
        return None
    if isinstance(source, Image.Image):
        img = source
    else:
        data = source if isinstance(source, bytes) else None
        if data is None:
            path = Path(source)
            if not path.is_file():
                raise ImageReadError(f"{what} file not found: {path.name}")
            data = path.read_bytes()
        if not data:
            raise ImageReadError(f"{what} file is empty (0 bytes)")
        try:
            img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageReadError(f"{what} is too large") from None
        except (OSError, ValueError, Image.UnidentifiedImageError):
            raise ImageReadError(f"{what} is not an image file PIL can read") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ImageReadError(
            f"{what} is {w}x{h} = {w * h} pixels, above the limit of {max_pixels} pixels")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError):
        raise ImageReadError(f"{what} file is damaged or truncated") from None
    return ImageOps.exif_transpose(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (grayscale, RGBA, palette, CMYK, 16-bit) as 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * (255 if arr.max() <= 1 else 1), 0, 255)
                              .astype(np.uint8), "L")
    if img.mode == "P" or img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, BACKGROUND)
        flat.paste(img, mask=img.getchannel("A"))
        return flat
    return img.convert("RGB")


def to_mask(img: Image.Image) -> Image.Image:
    """A mask as ``L``: white = repaint. Transparent pixels count as black (not painted)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return to_rgb(img).convert("L")
    if img.mode == "P" or "A" in img.getbands():
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (0, 0, 0))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat.convert("L")
    return img.convert("L")


def resize_image(mode: str, img: Image.Image, width: int, height: int,
                 fill_noise: bool = False) -> Image.Image:
    """A1111's resize modes to ``width`` x ``height``.

    Just resize: stretch. Crop and resize: scale to cover, crop the centre. Resize and fill:
    scale to fit, fill the borders by stretching the image's edge rows/columns.
    """
    if img.size == (width, height):
        return img.copy()
    lanczos = Image.Resampling.LANCZOS
    if mode == "Just resize":
        return img.resize((width, height), lanczos)
    ratio, src_ratio = width / height, img.width / img.height
    if mode == "Crop and resize":
        w, h = (width, round(width / src_ratio)) if ratio > src_ratio else \
            (round(height * src_ratio), height)
        scaled = img.resize((w, h), lanczos)
        left, top = (w - width) // 2, (h - height) // 2
        return scaled.crop((left, top, left + width, top + height))
    if mode == "Resize and fill":
        w, h = (round(height * src_ratio), height) if ratio > src_ratio else \
            (width, round(width / src_ratio))
        scaled = img.resize((w, h), lanczos)
        return extend_canvas(scaled, (width - w) // 2, width - w - (width - w) // 2,
                             (height - h) // 2, height - h - (height - h) // 2)
    raise ValueError(f"unknown resize mode {mode!r}")


def extend_canvas(img: Image.Image, left: int, right: int, up: int, down: int,
                  fill: str = "edge", seed: int = 0) -> Image.Image:
    """``img`` on a larger canvas; the new area repeats the nearest edge pixel ("edge") or
    holds random colour noise ("noise")."""
    arr = np.asarray(img.convert("RGB"))
    if fill == "edge":
        out = np.pad(arr, ((up, down), (left, right), (0, 0)), mode="edge")
    else:
        rng = np.random.default_rng(seed)
        out = rng.integers(0, 256, (arr.shape[0] + up + down, arr.shape[1] + left + right, 3),
                           dtype=np.uint8)
        out[up:up + arr.shape[0], left:left + arr.shape[1]] = arr
    return Image.fromarray(out, "RGB")


def blur_mask(mask: Image.Image, radius: int) -> Image.Image:
    """A1111's mask blur: a Gaussian blur of ``radius`` (0 = the hard mask)."""
    return mask.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else mask.copy()


def mask_bbox(mask: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box (x1, y1, x2, y2) of the non-black pixels, or None for an empty mask."""
    return mask.point(lambda v: 255 if v > 0 else 0).getbbox()


def crop_region(mask: Image.Image, padding: int, width: int, height: int):
    """A1111's "Only masked" crop: the mask's box plus ``padding``, grown to the aspect ratio
    ``width:height`` and kept inside the image. Returns (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = mask_bbox(mask) or (0, 0, mask.width, mask.height)
    W, H = mask.size
    x1, y1 = max(x1 - padding, 0), max(y1 - padding, 0)
    x2, y2 = min(x2 + padding, W), min(y2 + padding, H)
    ratio = width / height
    cw, ch = x2 - x1, y2 - y1
    if cw / ch < ratio:  # too narrow: widen
        want = min(round(ch * ratio), W)
        x1, x2 = _grow(x1, x2, want, W)
    else:  # too flat: heighten
        want = min(round(cw / ratio), H)
        y1, y2 = _grow(y1, y2, want, H)
    return x1, y1, x2, y2


def _grow(a: int, b: int, want: int, limit: int) -> tuple[int, int]:
    extra = want - (b - a)
    if extra <= 0:
        return a, b
    a -= extra // 2
    b += extra - extra // 2
    if a < 0:
        b, a = b - a, 0
    if b > limit:
        a, b = max(a - (b - limit), 0), limit
    return a, b


def fill_masked(img: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's masked content "fill": the masked area painted with the blurred colours of its
    surroundings (normalised blur of the unmasked pixels, coarse to fine)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    keep = (np.asarray(mask, dtype=np.float32) < 128).astype(np.float32)
    if keep.sum() == 0:  # everything masked: the image's mean colour
        return Image.new("RGB", img.size, tuple(int(v) for v in arr.mean(axis=(0, 1))))
    out = arr.copy()
    filled = keep.copy()
    for radius in (256, 64, 16, 4, 1):
        weights = _blur(keep, radius)
        colours = np.stack([_blur(arr[..., c] * keep, radius) for c in range(3)], -1)
        ok = weights > 1e-4
        est = np.where(ok[..., None], colours / np.maximum(weights, 1e-4)[..., None], 0)
        out = np.where(((filled < 1) & ok)[..., None], est, out)
        filled = np.where(ok, 1.0, filled)
    out = np.where(keep[..., None] > 0, arr, out)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")


def _blur(channel: np.ndarray, radius: int) -> np.ndarray:
    """Box blur of width 2*radius+1 (zero outside the image), separable, by cumulative sums."""
    out = channel.astype(np.float64)
    for axis in (0, 1):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad), axis=axis)
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * radius + 1)
    return out.astype(np.float32)


def paste_through(original: Image.Image, generated: Image.Image, mask: Image.Image,
                  box: tuple[int, int, int, int] | None = None) -> Image.Image:
    """``generated`` (resized into ``box``, default the whole image) over ``original`` through
    the blurred ``mask`` of ``original``'s size: where the mask is black the original's pixels
    are returned unchanged."""
    x1, y1, x2, y2 = box or (0, 0, original.width, original.height)
    layer = original.convert("RGB").copy()
    gen = generated.convert("RGB")
    if gen.size != (x2 - x1, y2 - y1):
        gen = gen.resize((x2 - x1, y2 - y1), Image.Resampling.LANCZOS)
    layer.paste(gen, (x1, y1))
    return Image.composite(layer, original.convert("RGB"), mask)
