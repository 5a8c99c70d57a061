"""The history store: writes an image file and its database row as one unit, and lists them.

Order of a write: the PNG goes to a temporary name beside its final one, the row is committed,
then the file is renamed into place. A failure before the commit removes the temporary file;
a failed rename removes the row. Neither a row without its file nor a file without its row is
left behind by an error.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL.PngImagePlugin import PngInfo
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from webui.engine.result import GenerationResult
from webui.history.schema import Generation

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(\d{5,})-")


@dataclass
class SavedImage:
    """A recorded image: its row id and absolute file path."""

    id: int
    path: Path


class HistoryStore:
    """Saves results under ``outputs_dir`` and records them in the database."""

    def __init__(self, engine: Engine, outputs_dir: Path):
        self.engine = engine
        self.outputs_dir = Path(outputs_dir)
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- writing ----------------------------------------------------------------------------
    def day_dir(self, mode: str, when: datetime | None = None) -> Path:
        """A1111's layout: ``outputs/<mode>-images/YYYY-MM-DD``."""
        when = when or datetime.now()
        return self.outputs_dir / f"{mode}-images" / when.strftime("%Y-%m-%d")

    @staticmethod
    def _next_number(folder: Path) -> int:
        numbers = [int(m.group(1)) for p in folder.glob("*") if (m := _NUMBERED.match(p.name))]
        return max(numbers, default=0) + 1

    def record(self, result: GenerationResult, owner: str | None = None) -> list[SavedImage]:
        """Save every image of ``result`` as PNG with its infotext and record one row each."""
        saved: list[SavedImage] = []
        req = result.request
        folder = self.day_dir(req.mode)
        folder.mkdir(parents=True, exist_ok=True)
        for gen in result.images:
            number = self._next_number(folder)
            final = folder / f"{number:05d}-{gen.seed}.png"
            tmp = folder / f".tmp-{uuid.uuid4().hex}.png"
            meta = PngInfo()
            meta.add_text("parameters", gen.infotext)
            try:
                gen.image.save(tmp, pnginfo=meta)
                row = Generation(
                    mode=req.mode, prompt=req.prompt, negative_prompt=req.negative_prompt,
                    width=req.width, height=req.height, steps=req.steps,
                    cfg_scale=req.cfg_scale, sampler=req.sampler, seed=gen.seed,
                    model_name=result.model_name, model_hash=result.model_hash,
                    params={k: str(v) for k, v in gen.params.items()}, infotext=gen.infotext,
                    image_path=final.relative_to(self.outputs_dir).as_posix(),
                    duration=result.duration, owner=owner,
                )
                with self._sessions.begin() as session:
                    session.add(row)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            try:
                os.replace(tmp, final)
            except BaseException:
                with self._sessions.begin() as session:
                    session.execute(delete(Generation).where(Generation.id == row.id))
                tmp.unlink(missing_ok=True)
                raise
            saved.append(SavedImage(row.id, final))
        return saved

    # -- reading ----------------------------------------------------------------------------
    def recent(self, limit: int = 50, offset: int = 0, owner: str | None = None) -> list[Generation]:
        """Newest records first."""
        stmt = select(Generation).order_by(Generation.created_at.desc(), Generation.id.desc())
        if owner is not None:
            stmt = stmt.where(Generation.owner == owner)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(stmt.limit(limit).offset(offset)))

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Generation)) or 0

    def get(self, record_id: int) -> Generation | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Generation, record_id)

    def image_path(self, row: Generation) -> Path:
        return self.outputs_dir / row.image_path
