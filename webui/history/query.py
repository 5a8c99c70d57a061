"""Gallery queries: search text, filters, sort and paging, turned into one SQL statement.

Search words match the prompt or the negative prompt. On SQLite with FTS5 each word is a
quoted prefix term of an FTS ``MATCH`` (so quotes, ``*``, ``NEAR``, ``AND`` or SQL typed by the
user are just text); words without letters or digits, and every word on other databases, use
``LIKE`` with ``%``/``_`` escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, false, or_, select, text

from webui.history.schema import BoardItem, Generation

MAX_TERMS = 16  # longer searches use their first 16 words
MAX_TERM_CHARS = 64
_WORD = re.compile(r"[^\W_]", re.UNICODE)  # a letter or digit
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class GalleryQuery:
    """What the Gallery shows: search text, filters, sort order and page (0-based)."""

    text: str = ""
    mode: str | None = None
    model: str | None = None
    date_from: date | None = None  # inclusive, local calendar days
    date_to: date | None = None  # inclusive
    starred: bool = False
    width: int | None = None
    height: int | None = None
    board_id: int | None = None
    newest_first: bool = True
    page: int = 0
    per_page: int = 60


def search_terms(text_: str | None) -> list[str]:
    """Split a search string into at most :data:`MAX_TERMS` words of bounded length."""
    clipped = (text_ or "")[: MAX_TERMS * (MAX_TERM_CHARS + 1) * 4]
    words = _CONTROL.sub(" ", clipped).split()
    return [w[:MAX_TERM_CHARS] for w in words[:MAX_TERMS]]


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"*'


def _like(term: str):
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return or_(Generation.prompt.ilike(pattern, escape="\\"),
               Generation.negative_prompt.ilike(pattern, escape="\\"))


def _day_start(day: date) -> datetime:
    local = datetime.combine(day, time.min).astimezone()  # the user's local midnight
    return local.astimezone(timezone.utc)


def visible(stmt: Select, owner: str | None, is_admin: bool) -> Select:
    """Hide rows being deleted and, unless ``is_admin``, other owners' rows."""
    stmt = stmt.where(Generation.deleting == false())
    if not is_admin:
        stmt = stmt.where(Generation.owner == owner) if owner is not None else \
            stmt.where(Generation.owner.is_(None))
    return stmt


def filtered(q: GalleryQuery, owner: str | None, is_admin: bool, fts: bool,
             columns=None) -> Select:
    """``SELECT`` (of ``columns``, default the Generation entity) with every filter of ``q``."""
    stmt = visible(select(*(columns or [Generation])), owner, is_admin)
    fts_terms, like_terms = [], []
    for term in search_terms(q.text):
        (fts_terms if fts and _WORD.search(term) else like_terms).append(term)
    if fts_terms:
        match = " ".join(_fts_phrase(t) for t in fts_terms)
        stmt = stmt.where(Generation.id.in_(
            text("SELECT rowid FROM generations_fts WHERE generations_fts MATCH :match")
            .bindparams(match=match)))
    for term in like_terms:
        stmt = stmt.where(_like(term))
    if q.mode:
        stmt = stmt.where(Generation.mode == q.mode)
    if q.model:
        stmt = stmt.where(Generation.model_name == q.model)
    if q.starred:
        stmt = stmt.where(Generation.starred.is_(True))
    if q.width:
        stmt = stmt.where(Generation.width == q.width)
    if q.height:
        stmt = stmt.where(Generation.height == q.height)
    if q.date_from:
        stmt = stmt.where(Generation.created_at >= _day_start(q.date_from))
    if q.date_to:
        stmt = stmt.where(Generation.created_at < _day_start(q.date_to + timedelta(days=1)))
    if q.board_id is not None:
        stmt = stmt.where(Generation.id.in_(
            select(BoardItem.generation_id).where(BoardItem.board_id == q.board_id)))
    return stmt


def ordered(stmt: Select, newest_first: bool) -> Select:
    """Sort by time then id (ties broken the same way on every database)."""
    if newest_first:
        return stmt.order_by(Generation.created_at.desc(), Generation.id.desc())
    return stmt.order_by(Generation.created_at.asc(), Generation.id.asc())
