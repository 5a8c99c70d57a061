"""Write images with their generation parameters in the place every SD tool reads them:
PNG ``parameters`` text chunk, or EXIF UserComment (``UNICODE`` + UTF-16BE) in JPEG/WebP,
as AUTOMATIC1111 writes them; with an XMP packet (the provenance label, see
``webui.provenance``) when one is given.

JPEG is written at quality 95 (never below 90) with full-resolution colour (4:4:4, no chroma
subsampling) and WebP losslessly: the invisible watermark lives in the colour channels, and
4:2:0 subsampling (default JPEG, every lossy WebP) erases it."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
#: the lowest JPEG quality this app writes (the watermark survives from here on)
MIN_JPEG_QUALITY = 90
#: the PNG iTXt keyword of an XMP packet (Adobe XMP specification part 3)
PNG_XMP_KEY = "XML:com.adobe.xmp"


def exif_with_comment(text: str) -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = (
        b"UNICODE\x00" + text.encode("utf-16-be"))
    return exif


def save_with_parameters(image: Image.Image, path: Path | BinaryIO, infotext: str | None,
                         fmt: str = "png", quality: int = 95, xmp: bytes | None = None,
                         texts: dict[str, str] | None = None) -> None:
    """Save ``image`` to ``path`` (a path or a binary file) in ``fmt`` with ``infotext``
    embedded (None: none), the ``xmp`` packet when given, and for PNG any other ``texts``
    chunks (A1111's ``postprocessing``/``extras``)."""
    if fmt == "png":
        meta = PngInfo()
        if infotext is not None:
            meta.add_text("parameters", infotext)
        for key, value in (texts or {}).items():
            meta.add_text(key, value)
        if xmp:
            meta.add_itxt(PNG_XMP_KEY, xmp.decode("utf-8"), lang="", tkey="", zip=False)
        image.save(path, format="PNG", pnginfo=meta)
    elif fmt == "jpeg":
        extra = {"xmp": xmp} if xmp else {}
        if infotext is not None:
            extra["exif"] = exif_with_comment(infotext)
        image.convert("RGB").save(path, format="JPEG", quality=max(quality, MIN_JPEG_QUALITY),
                                  subsampling=0, **extra)
    elif fmt == "webp":
        extra = {"xmp": xmp} if xmp else {}
        if infotext is not None:
            extra["exif"] = exif_with_comment(infotext)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(path, format="WEBP", lossless=True, quality=80, method=4, **extra)
    else:
        raise ValueError(f"output format must be one of {', '.join(FORMATS)}, got {fmt!r}")
