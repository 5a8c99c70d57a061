"""Write images with their generation parameters in the place every SD tool reads them:
PNG ``parameters`` text chunk, or EXIF UserComment (``UNICODE`` + UTF-16BE) in JPEG/WebP,
as AUTOMATIC1111 writes them."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def exif_with_comment(text: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = (
        b"UNICODE\x00" + text.encode("utf-16-be"))
    return exif


def save_with_parameters(image: Image.Image, path: Path | BinaryIO, infotext: str,
                         fmt: str = "png", quality: int = 95) -> None:
    """Save ``image`` to ``path`` (a path or a binary file) in ``fmt`` with ``infotext``
    embedded."""
    if fmt == "png":
        meta = PngInfo()
        meta.add_text("parameters", infotext)
        image.save(path, format="PNG", pnginfo=meta)
    elif fmt == "jpeg":
        image.convert("RGB").save(path, format="JPEG", quality=quality,
                                  exif=exif_with_comment(infotext))
    elif fmt == "webp":
        image.save(path, format="WEBP", quality=quality, exif=exif_with_comment(infotext))
    else:
        raise ValueError(f"output format must be one of {', '.join(FORMATS)}, got {fmt!r}")
