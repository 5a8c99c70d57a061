"""Import an existing outputs tree (AUTOMATIC1111, Forge, ComfyUI, ...) into the history.

Every image file is recorded with the parameters :mod:`webui.metadata.pnginfo` reads from it.
Files stay where they are. Importing the same folder again adds nothing: a file is known by
its path (relative to our outputs folder when inside it, else absolute).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from webui.history.files import STAGING, THUMBS
from webui.metadata.pnginfo import read_generation_info
from webui.history.schema import Generation

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
_MODE_DIR = re.compile(r"^(txt2img|img2img|extras|inpaint|outpaint)-(images|grids)$")
BATCH = 200


@dataclass
class ImportReport:
    """What an import did."""

    added: int = 0
    skipped: int = 0  # already in the history
    unreadable: list[str] = field(default_factory=list)
    without_metadata: int = 0

    def message(self) -> str:
        text = f"Imported {self.added} image(s); {self.skipped} already in the history"
        if self.without_metadata:
            text += f"; {self.without_metadata} without generation parameters"
        if self.unreadable:
            text += f"; {len(self.unreadable)} unreadable file(s) skipped"
        return text + "."


def _mode_of(path: Path, root: Path) -> str:
    for part in path.relative_to(root).parts[:-1]:
        if m := _MODE_DIR.match(part):
            return m.group(1)
    return "imported"


def _key(path: Path, outputs_dir: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(outputs_dir.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def iter_images(folder: Path):
    """Image files under ``folder`` in name order, skipping our hidden thumbnails/staging."""
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not any(
                part in (THUMBS, STAGING) for part in path.relative_to(folder).parts):
            yield path


def _row_for(path: Path, root: Path, key: str, owner: str | None) -> Generation | None:
    try:
        with Image.open(path) as img:
            size = img.size
    except Exception:  # noqa: BLE001 - any unreadable file is reported, not fatal
        return None
    info = read_generation_info(path)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    row = Generation(created_at=mtime, mode=_mode_of(path, root), image_path=key, owner=owner,
                     width=size[0], height=size[1], steps=0, cfg_scale=0.0, sampler="", seed=0,
                     model_name="", model_hash="", params={}, infotext="", prompt="",
                     negative_prompt="", duration=0.0, source="none")
    if info is None:
        return row
    row.source = info.source[:32]
    row.prompt, row.negative_prompt = info.prompt or "", info.negative_prompt or ""
    row.width, row.height = info.width or size[0], info.height or size[1]
    row.steps = info.steps or 0
    row.cfg_scale = info.cfg_scale or 0.0
    row.sampler = (info.sampler or "")[:64]
    row.seed = info.seed if info.seed is not None and 0 <= info.seed < 2**63 else 0
    row.model_name, row.model_hash = (info.model or "")[:512], (info.model_hash or "")[:64]
    row.params = dict(info.params)
    row.infotext = info.infotext()
    return row


def import_folder(store, folder: Path, owner: str | None = None) -> ImportReport:
    """Record every image under ``folder`` not yet in ``store``'s history."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    report = ImportReport()
    with Session(store.engine) as session:
        known = set(session.scalars(select(Generation.image_path)))
    pending: list[Generation] = []
    for path in iter_images(folder):
        key = _key(path, store.outputs_dir)
        if key in known:
            report.skipped += 1
            continue
        row = _row_for(path, folder, key, owner)
        if row is None:
            report.unreadable.append(str(path))
            continue
        report.without_metadata += row.source == "none"
        known.add(key)
        pending.append(row)
        if len(pending) >= BATCH:
            _flush(store, pending, report)
    _flush(store, pending, report)
    log.info("import of %s: %s", folder, report.message())
    return report


def _flush(store, pending: list[Generation], report: ImportReport) -> None:
    if pending:
        with store._sessions.begin() as session:
            session.add_all(pending)
        report.added += len(pending)
        pending.clear()
