"""Export a selection of the history as a zip: one PNG per image plus ``records.json``."""

from __future__ import annotations

import io
import json
import logging
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

log = logging.getLogger(__name__)

FIELDS = ("id", "created_at", "mode", "prompt", "negative_prompt", "width", "height", "steps",
          "cfg_scale", "sampler", "seed", "model_name", "model_hash", "params", "infotext",
          "image_path", "duration", "owner", "starred", "source", "filtered")


def record_dict(row) -> dict:
    """A record as JSON-ready values."""
    out = {}
    for name in FIELDS:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _png_bytes(path: Path, infotext: str) -> bytes:
    """The file itself when it is a PNG, else a PNG conversion carrying the infotext and
    the XMP provenance label (the pixels, watermark included, are the same; a C2PA manifest
    is bound to the original file's bytes and does not carry over)."""
    from webui.imageio import PNG_XMP_KEY

    with Image.open(path) as img:
        if img.format == "PNG":
            return path.read_bytes()
        meta = PngInfo()
        if infotext:
            meta.add_text("parameters", infotext)
        xmp = img.info.get("xmp")
        if isinstance(xmp, bytes) and xmp:
            meta.add_itxt(PNG_XMP_KEY, xmp.decode("utf-8", errors="replace"), zip=False)
        buf = io.BytesIO()
        img.save(buf, format="PNG", pnginfo=meta)
        return buf.getvalue()


def export_zip(store, ids, owner: str | None = None, is_admin: bool = True,
               dest_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Write the zip of the records ``owner`` may see among ``ids``; (zip path, problems)."""
    rows = [r for r in (store.get(i, owner, is_admin) for i in ids) if r is not None]
    if not rows:
        raise ValueError("nothing selected to export")
    dest_dir = Path(dest_dir or tempfile.mkdtemp(prefix="webui-export-"))
    target = dest_dir / f"history-{datetime.now():%Y%m%d-%H%M%S}.zip"
    problems, records = [], []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for row in rows:
            name = f"{row.id:06d}-{Path(row.image_path).stem}.png"
            try:
                zf.writestr(f"images/{name}", _png_bytes(store.image_path(row), row.infotext))
            except OSError as exc:
                problems.append(f"#{row.id}: {exc}")
                name = None
            records.append({**record_dict(row), "file": f"images/{name}" if name else None})
        zf.writestr("records.json", json.dumps(records, ensure_ascii=False, indent=2))
    return target, problems
