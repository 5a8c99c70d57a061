"""Files beside the rows: staging folder, thumbnails, and the placeholder for missing files.

Layout under the outputs folder::

    .staging/<token>.png                     an image written but not yet published
    <mode>-images/<day>/00001-<seed>.png     a published image
    <mode>-images/<day>/.thumbs/00001-<seed>.webp   its thumbnail (made once, on first need)
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from PIL import Image, ImageDraw

log = logging.getLogger(__name__)

THUMB_SIZE = 256
STAGING = ".staging"
THUMBS = ".thumbs"


def new_token() -> str:
    """A unique name for a staged file."""
    return uuid.uuid4().hex


def write_durably(path: Path, save) -> None:
    """Call ``save(file_object)`` into ``path`` and flush it to disk before returning."""
    with open(path, "wb") as fh:
        save(fh)
        fh.flush()
        os.fsync(fh.fileno())


def thumb_path(image: Path) -> Path:
    """Where the thumbnail of ``image`` lives: ``.thumbs/<stem>.webp`` beside it."""
    return image.parent / THUMBS / f"{image.stem}.webp"


def make_thumbnail(image: Path) -> Path | None:
    """Return the WebP thumbnail of ``image``, making it the first time; None if impossible."""
    thumb = thumb_path(image)
    if thumb.is_file():
        return thumb
    try:
        with Image.open(image) as img:
            img.thumbnail((THUMB_SIZE, THUMB_SIZE))
            if img.mode not in ("RGB", "RGBA"):
                img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
            thumb.parent.mkdir(parents=True, exist_ok=True)
            tmp = thumb.with_name(f".{thumb.stem}.{new_token()}.tmp")
            img.save(tmp, format="WEBP", quality=80)
        os.replace(tmp, thumb)
        return thumb
    except (OSError, ValueError) as exc:
        log.warning("no thumbnail for %s: %s", image, exc)
        return None


def missing_placeholder(outputs_dir: Path) -> Path:
    """A grey 'file missing' tile, made once under ``outputs/.thumbs``."""
    path = outputs_dir / THUMBS / "missing.webp"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        img = Image.new("RGB", (THUMB_SIZE, THUMB_SIZE), (60, 60, 60))
        ImageDraw.Draw(img).text((70, 120), "file missing", fill=(230, 230, 230))
        img.save(path, format="WEBP")
    return path


def remove_image_files(image: Path) -> None:
    """Delete an image and its thumbnail; files already gone are fine."""
    thumb_path(image).unlink(missing_ok=True)
    image.unlink(missing_ok=True)
