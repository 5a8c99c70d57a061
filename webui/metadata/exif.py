"""EXIF metadata (JPEG, WebP, PNG eXIf): the Exif IFD ``UserComment`` (``UNICODE\\0`` + UTF-16, byte
order sniffed from the text since tools disagree with their own TIFF header) becomes ``parameters``;
IFD0 strings of the form ``prompt:{...}`` / ``workflow:{...}`` (ComfyUI WebP) become those keys."""

from __future__ import annotations

import logging
import re
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

_USER_COMMENT_TAG = 0x9286
_EXIF_IFD_TAG = 0x8769
_IFD0_PREFIXED_JSON = re.compile(r"^\s*(\w+)\s*:\s*([\[{].*)$", re.S)


def _decode_utf16(data: bytes, big_endian_default: bool) -> str:
    """Decode UTF-16 whose byte order must be guessed: BOM, else where the zero bytes are."""
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return data.decode("utf-16", errors="replace")
    even_zeros, odd_zeros = data[0::2].count(0), data[1::2].count(0)
    big_endian = even_zeros > odd_zeros if even_zeros != odd_zeros else big_endian_default
    return data.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")


def decode_user_comment(value: Any, big_endian_default: bool = True) -> str | None:
    """Decode an EXIF UserComment (8-byte character-code prefix + text) to a string."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        prefix, body = bytes(value[:8]), bytes(value[8:])
        if prefix == b"UNICODE\0":
            text = _decode_utf16(body, big_endian_default)
        elif prefix in (b"ASCII\0\0\0", b"\0" * 8):
            text = body.decode("utf-8", errors="replace")
        elif prefix.startswith(b"JIS"):
            text = body.decode("shift_jis", errors="replace")
        else:
            text = bytes(value).decode("utf-8", errors="replace")
    else:
        return None
    text = text.strip("\0")
    return text if text.strip() else None


def exif_texts(image: Image.Image) -> dict[str, str]:
    """``parameters`` from UserComment and ComfyUI's ``key:JSON`` strings from IFD0."""
    texts: dict[str, str] = {}
    try:
        exif = image.getexif()
        user_comment = exif.get_ifd(_EXIF_IFD_TAG).get(_USER_COMMENT_TAG)
    except Exception:
        logger.debug("cannot read EXIF", exc_info=True)
        return texts
    text = decode_user_comment(user_comment, big_endian_default=exif.endian != "<")
    if text:
        texts["parameters"] = text
    for value in exif.values():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            match = _IFD0_PREFIXED_JSON.match(value.strip("\0"))
            if match:
                texts.setdefault(match.group(1), match.group(2))
    return texts
