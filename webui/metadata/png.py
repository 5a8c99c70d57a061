"""PNG text chunks (tEXt, zTXt, iTXt) read through Pillow; raw UTF-8 written into a Latin-1 tEXt
chunk (Stability Matrix) is repaired."""

from __future__ import annotations

import logging

from PIL import Image

logger = logging.getLogger(__name__)


def _fix_mojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1 (raw UTF-8 in a tEXt chunk)."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def png_texts(image: Image.Image) -> dict[str, str]:
    """Text chunks, including those after the image data; falls back to ``image.info``."""
    texts: dict[str, str] = {}
    try:
        chunk_texts = getattr(image, "text", None)
    except Exception:  # truncated or broken file: the chunks before IDAT are still in image.info
        logger.debug("cannot read all PNG text chunks", exc_info=True)
        chunk_texts = None
    if not isinstance(chunk_texts, dict):
        chunk_texts = None
    for source in (chunk_texts or {}, image.info):
        for key, value in source.items():
            if isinstance(key, str) and isinstance(value, str) and key not in texts:
                texts[key] = _fix_mojibake(str(value))
    comment = image.info.get("comment")
    if isinstance(comment, bytes) and "comment" not in texts:
        texts["comment"] = comment.decode("utf-8", errors="replace")
    return texts
