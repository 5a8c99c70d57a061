"""The history store: an image file and its database row as one unit, searched and deleted.

Writing an image (each step is its own method, so crash tests can stop at any of them):

0. ``_finish``: the output filter (``--safety-checker``, off by default) blurs or withholds a
   flagged picture, then SDXL's invisible watermark is embedded (``webui.provenance``): once,
   after every other change to the pixels, so the file, the API answers and
   ``GeneratedImage.image`` are the same marked picture (``GeneratedImage.notes`` says what
   was not marked or was filtered);
1. ``_stage``: the image (PNG, JPEG or WebP as the Settings tab says, parameters and the XMP
   provenance label embedded, C2PA-signed when the operator set a certificate) goes to
   ``outputs/.staging/<token>.<ext>`` and is fsynced;
2. ``_commit``: the row is committed with ``file_token = <token>`` and its final path;
3. ``_publish``: the staged file is renamed to its final name (atomic, same file system).

Deleting: ``_mark_deleting`` commits ``deleting = true`` (the rows vanish from every view),
``_remove_files`` unlinks image and thumbnail, ``_drop_rows`` deletes the rows. :meth:`reconcile`,
run at start, finishes whatever a crash interrupted: staged files with a row are published,
staged files without one are removed, rows marked ``deleting`` lose their files and go.
Nothing is recorded without its file, nothing stays on disk without its record.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from webui.engine.result import GeneratedImage, GenerationResult
from webui.history import files
from webui.history.boards import BoardsMixin
from webui.history.db import has_fts
from webui.history.query import GalleryQuery, filtered, ordered, visible
from webui.history.schema import Generation
from webui.imageio import FORMATS

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(\d{5,})-")
COUNT_CAP = 10_000  # counting every match of a broad search costs more than it tells


def _own_values(gen, req, result) -> dict:
    """The row's prompt, steps, CFG, sampler and model of one image: what its own infotext
    says (a script such as the X/Y/Z plot makes images with other values than the job's
    request), else the request's."""
    from webui.metadata.infotext import parse_infotext

    out = dict(prompt=req.prompt, negative_prompt=req.negative_prompt, steps=req.steps,
               cfg_scale=req.cfg_scale, sampler=req.sampler, model_name=result.model_name,
               model_hash=result.model_hash)
    if not req.script or not gen.infotext:
        return out
    try:
        parsed = parse_infotext(gen.infotext)
        p = parsed["params"]
        out.update(prompt=parsed["prompt"], negative_prompt=parsed["negative_prompt"])
        if "Steps" in p:
            out["steps"] = int(p["Steps"])
        if "CFG scale" in p:
            out["cfg_scale"] = float(p["CFG scale"])
        if "Sampler" in p:
            out["sampler"] = str(p["Sampler"])
        if "Model" in p:
            out["model_name"] = str(p["Model"])
            out["model_hash"] = str(p.get("Model hash", ""))
    except (ValueError, KeyError, TypeError):
        pass  # an infotext we cannot read: the request's values
    return out


@dataclass
class SavedImage:
    """A recorded image: its row id and absolute file path."""

    id: int
    path: Path


@dataclass
class Page:
    """One page of gallery results; ``total`` counts the matches up to :data:`COUNT_CAP`
    (``more`` is True when there are more than that)."""

    rows: list[Generation]
    total: int
    page: int
    per_page: int
    more: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def total_text(self) -> str:
        """``"1,234"`` or ``"more than 10,000"``."""
        return f"more than {COUNT_CAP:,}" if self.more else f"{self.total:,}"


@dataclass
class ReconcileReport:
    """What :meth:`HistoryStore.reconcile` repaired."""

    published: list[str] = field(default_factory=list)  # staged files put in place
    discarded: list[str] = field(default_factory=list)  # staged files without a row
    deleted: list[int] = field(default_factory=list)  # interrupted deletes finished

    def __bool__(self) -> bool:
        return bool(self.published or self.discarded or self.deleted)


class HistoryStore(BoardsMixin):
    """Saves results under ``outputs_dir`` and records them in the database.

    Reading and changing methods take ``owner`` and ``is_admin``: a user sees and changes only
    rows whose owner is ``owner``; an admin sees and changes all.
    """

    def __init__(self, engine: Engine, outputs_dir: Path, user_settings=None,
                 provenance=None, output_filter=None):
        from webui.provenance import Provenance

        self.engine = engine
        self.outputs_dir = Path(outputs_dir)
        self.user_settings = user_settings  # output format and file-name pattern (optional)
        # watermark, XMP label and C2PA signing of every saved image (webui.provenance)
        self.provenance = provenance if provenance is not None else Provenance()
        self.output_filter = output_filter  # webui.safety.OutputFilter (None: off)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.fts = has_fts(engine)

    @property
    def staging_dir(self) -> Path:
        return self.outputs_dir / files.STAGING

    # -- writing ----------------------------------------------------------------------------
    def day_dir(self, mode: str, when: datetime | None = None) -> Path:
        """A1111's layout: ``outputs/<mode>-images/YYYY-MM-DD``."""
        when = when or datetime.now()
        return self.outputs_dir / f"{mode}-images" / when.strftime("%Y-%m-%d")

    @staticmethod
    def _next_number(folder: Path) -> int:
        numbers = [int(m.group(1)) for p in folder.glob("*") if (m := _NUMBERED.match(p.name))]
        return max(numbers, default=0) + 1

    def _output_style(self) -> tuple[str, str]:
        """(format, file-name pattern) from the user settings; PNG and ``[seed]`` without."""
        current = getattr(self.user_settings, "current", None)
        if current is None:
            return "png", "[seed]"
        fmt = current.output_format if current.output_format in FORMATS else "png"
        return fmt, current.filename_pattern or "[seed]"

    @staticmethod
    def _file_stem(pattern: str, req, gen, result) -> str:
        from webui.user_settings import format_filename

        now = datetime.now()
        values = {"seed": gen.seed, "steps": req.steps, "cfg": f"{req.cfg_scale:g}",
                  "width": gen.image.width, "height": gen.image.height, "sampler": req.sampler,
                  "model_name": result.model_name or "", "model_hash": result.model_hash or "",
                  "prompt": req.prompt, "date": now.strftime("%Y-%m-%d"),
                  "datetime": now.strftime("%Y%m%d%H%M%S")}
        return format_filename(pattern, values) or str(gen.seed)

    def _finish(self, gen: GeneratedImage) -> None:
        """Filter, then watermark ``gen.image`` in place (the last change to its pixels);
        sets ``gen.filtered`` and adds to ``gen.notes`` what the caller should hear."""
        if self.output_filter is not None:
            verdict = self.output_filter.check(gen.image)
            if verdict.flagged:
                gen.image, gen.filtered = verdict.image, verdict.describe()
                gen.notes.append(f"{gen.filtered} (output filter)")
                log.info("output filter: seed %s %s", gen.seed, gen.filtered)
        gen.image, note = self.provenance.mark(gen.image)
        if note:
            gen.notes.append(note)

    def _stage(self, gen, token: str, fmt: str = "png", model_name: str = "",
               model_hash: str = "") -> Path:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.staging_dir / f"{token}{FORMATS[fmt]}"
        data = self.provenance.encode(gen.image, gen.infotext, fmt, model_name, model_hash,
                                      title=f"{token}{FORMATS[fmt]}")
        files.write_durably(tmp, lambda fh: fh.write(data))
        return tmp

    def _commit(self, row: Generation) -> None:
        with self._sessions.begin() as session:
            session.add(row)

    def _publish(self, tmp: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)

    def record(self, result: GenerationResult, owner: str | None = None) -> list[SavedImage]:
        """Save every image of ``result`` (PNG, or JPEG/WebP per the settings) with its
        infotext and provenance (filtered and watermarked first: see ``_finish``) and record
        one row each."""
        saved: list[SavedImage] = []
        req = result.request
        folder = self.day_dir(req.mode)
        folder.mkdir(parents=True, exist_ok=True)
        fmt, pattern = self._output_style()
        for gen in result.images:
            self._finish(gen)
            stem = self._file_stem(pattern, req, gen, result)
            final = folder / f"{self._next_number(folder):05d}-{stem}{FORMATS[fmt]}"
            token = files.new_token()
            tmp = self.staging_dir / f"{token}{FORMATS[fmt]}"
            own = _own_values(gen, req, result)
            row = Generation(
                mode=req.mode, width=gen.image.width, height=gen.image.height, seed=gen.seed,
                **own,
                params={k: str(v) for k, v in gen.params.items()}, infotext=gen.infotext,
                image_path=final.relative_to(self.outputs_dir).as_posix(),
                duration=result.duration, owner=owner, file_token=token,
                filtered=gen.filtered or None,
            )
            try:
                self._stage(gen, token, fmt, result.model_name, result.model_hash)
                self._commit(row)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            try:
                self._publish(tmp, final)
            except BaseException:
                with self._sessions.begin() as session:
                    session.execute(delete(Generation).where(Generation.id == row.id))
                tmp.unlink(missing_ok=True)
                raise
            files.make_thumbnail(final)
            saved.append(SavedImage(row.id, final))
        return saved

    # -- reading ----------------------------------------------------------------------------
    def recent(self, limit: int = 50, offset: int = 0, owner: str | None = None) -> list[Generation]:
        """Newest records first (every owner's when ``owner`` is None)."""
        page = self.search(GalleryQuery(per_page=limit), owner=owner, is_admin=owner is None,
                           offset=offset, with_total=False)
        return page.rows

    def count(self, owner: str | None = None, is_admin: bool = True) -> int:
        """How many records ``owner`` can see."""
        stmt = visible(select(func.count()).select_from(Generation), owner, is_admin)
        with Session(self.engine) as session:
            return session.scalar(stmt) or 0

    def search(self, q: GalleryQuery, owner: str | None = None, is_admin: bool = True,
               offset: int | None = None, with_total: bool = True) -> Page:
        """One page of records matching ``q`` that ``owner`` may see."""
        per_page = max(1, min(int(q.per_page), 500))
        start = max(0, int(q.page)) * per_page if offset is None else offset
        stmt = ordered(filtered(q, owner, is_admin, self.fts), q.newest_first)
        if self.fts and q.text.strip():
            # walk the time index and probe the FTS matches, instead of sorting every match
            stmt = stmt.with_hint(Generation, "INDEXED BY ix_generations_created_at", "sqlite")
        more = False
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.scalars(stmt.limit(per_page).offset(start)))
            total = len(rows)
            if with_total:
                matches = filtered(q, owner, is_admin, self.fts, [Generation.id])
                capped = select(func.count()).select_from(
                    matches.limit(COUNT_CAP + 1).subquery())
                total = session.scalar(capped) or 0
                more = total > COUNT_CAP
                total = min(total, COUNT_CAP)
        return Page(rows, total, max(0, int(q.page)), per_page, more)

    def get(self, record_id: int, owner: str | None = None,
            is_admin: bool = True) -> Generation | None:
        """The record ``record_id`` if it exists and ``owner`` may see it."""
        stmt = visible(select(Generation).where(Generation.id == int(record_id)), owner, is_admin)
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalars(stmt).first()

    def image_path(self, row: Generation) -> Path:
        """Absolute path of a record's image (imported files may live outside outputs)."""
        return self.outputs_dir / row.image_path

    def thumbnail(self, row: Generation) -> Path:
        """The WebP thumbnail (made once), the image itself, or a 'missing' tile."""
        image = self.image_path(row)
        if not image.is_file():
            return files.missing_placeholder(self.outputs_dir)
        return files.make_thumbnail(image) or image

    def choices(self, column: str, owner: str | None = None, is_admin: bool = True) -> list:
        """Distinct values of ``mode``/``model_name`` (or ``size`` as "WxH") for filters."""
        cols = [Generation.width, Generation.height] if column == "size" else \
            [getattr(Generation, column)]
        stmt = visible(select(*cols).group_by(*cols), owner, is_admin)
        with Session(self.engine) as session:
            rows = session.execute(stmt.limit(1000)).all()
        if column == "size":
            return [f"{w}x{h}" for w, h in sorted(rows)]
        return sorted(r[0] for r in rows if r[0])

    def _owned_ids(self, session: Session, ids, owner, is_admin) -> list[int]:
        wanted = [int(i) for i in ids]
        if not wanted:
            return []
        stmt = visible(select(Generation.id).where(Generation.id.in_(wanted)), owner, is_admin)
        return list(session.scalars(stmt))

    # -- changing ---------------------------------------------------------------------------
    def set_starred(self, ids, starred: bool, owner: str | None = None,
                    is_admin: bool = True) -> int:
        """Star or unstar records; returns how many of them ``owner`` could change."""
        with self._sessions.begin() as session:
            mine = self._owned_ids(session, ids, owner, is_admin)
            if mine:
                session.execute(update(Generation).where(Generation.id.in_(mine))
                                .values(starred=bool(starred)))
        return len(mine)

    def delete(self, ids, owner: str | None = None, is_admin: bool = True) -> int:
        """Delete records and their files (only ``owner``'s unless admin); returns the count."""
        rows = self._mark_deleting(ids, owner, is_admin)
        self._remove_files(rows)
        self._drop_rows([r.id for r in rows])
        return len(rows)

    def _mark_deleting(self, ids, owner, is_admin) -> list[Generation]:
        with self._sessions.begin() as session:
            mine = self._owned_ids(session, ids, owner, is_admin)
            if not mine:
                return []
            session.execute(update(Generation).where(Generation.id.in_(mine))
                            .values(deleting=True))
            return list(session.scalars(select(Generation).where(Generation.id.in_(mine))))

    def _remove_files(self, rows) -> None:
        for row in rows:
            files.remove_image_files(self.image_path(row))

    def _drop_rows(self, ids: list[int]) -> None:
        if ids:
            with self._sessions.begin() as session:
                session.execute(delete(Generation).where(Generation.id.in_(ids)))

    # -- start-up repair --------------------------------------------------------------------
    def reconcile(self) -> ReconcileReport:
        """Finish or undo whatever a crash left half-done (see the module docstring)."""
        report = ReconcileReport()
        with Session(self.engine, expire_on_commit=False) as session:
            doomed = list(session.scalars(select(Generation).where(Generation.deleting.is_(True))))
        self._remove_files(doomed)
        self._drop_rows([r.id for r in doomed])
        report.deleted = [r.id for r in doomed]
        staged = sorted(p for p in self.staging_dir.glob("*")
                        if p.suffix in FORMATS.values()) if self.staging_dir.is_dir() else []
        for tmp in staged:
            with Session(self.engine) as session:
                row = session.scalars(select(Generation).where(
                    Generation.file_token == tmp.stem, Generation.deleting.is_(False))).first()
            final = self.image_path(row) if row is not None else None
            if final is not None and not final.exists():
                self._publish(tmp, final)
                files.make_thumbnail(final)
                report.published.append(row.image_path)
            else:
                tmp.unlink(missing_ok=True)
                report.discarded.append(tmp.name)
        for junk in self.staging_dir.glob("*") if self.staging_dir.is_dir() else []:
            if junk.is_file():  # partial files of any other kind
                junk.unlink(missing_ok=True)
                report.discarded.append(junk.name)
        if report:
            log.warning("history repaired after an interrupted run: %s", report)
        return report

    def owner_of_file(self, rel: Path) -> str | None | bool:
        """Owner of the record whose image (or its ``.thumbs/`` thumbnail) is ``rel``, a path
        under the outputs folder; None for the local user's; False when no record has it."""
        parts = rel.parts
        if len(parts) >= 2 and parts[-2] == ".thumbs":
            folder = Path(*parts[:-2]).as_posix()
            stem = Path(parts[-1]).stem
            cond = Generation.image_path.like(f"{folder}/{stem}.%")
        else:
            cond = Generation.image_path == rel.as_posix()
        with Session(self.engine) as session:
            row = session.execute(select(Generation.owner).where(cond).limit(1)).first()
        return False if row is None else row[0]

    def images_named(self, stem: str) -> list[tuple[str | None, Path]]:
        """(owner, absolute image path) of every record whose image file is ``stem`` plus an
        extension: where a copy called ``stem.*`` (Gradio's file cache keeps the original
        file name) may have come from, its own image or its ``.thumbs/`` thumbnail."""
        esc = stem.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond = or_(Generation.image_path.like(f"%/{esc}.%", escape="\\"),
                   Generation.image_path.like(f"{esc}.%", escape="\\"))
        with Session(self.engine) as session:
            rows = session.execute(select(Generation.owner, Generation.image_path)
                                   .where(cond)).all()
        return [(owner, self.outputs_dir / path) for owner, path in rows]
