"""Open the history database and bring its schema up to date with Alembic.

SQLite gets WAL, foreign keys and a busy timeout on every connection; PostgreSQL (or any other
SQLAlchemy URL) runs the same migrations. A database that cannot be opened is reported with a
plain :class:`DatabaseOpenError`; an existing file is never recreated or overwritten.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseOpenError(RuntimeError):
    """The history database cannot be used; the message says why and what to do."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def backup_sqlite(path: Path) -> Path:
    """Copy the SQLite file at ``path`` to ``<path>.<timestamp>.bak`` and return the copy.

    Uses SQLite's online backup, so rows still in the WAL file are included.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    backup = Path(f"{path}.{stamp}.bak")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(backup)
        with dst:
            src.backup(dst)
        dst.close()
    finally:
        src.close()
    return backup


def _check_sqlite_file(path: Path) -> None:
    if path.exists():
        if not path.is_file():
            raise DatabaseOpenError(f"history database {path} is not a file")
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head and head != b"SQLite format 3\x00":
            raise DatabaseOpenError(
                f"history database {path} is not an SQLite database (corrupt or another "
                "file). It was left untouched: restore it from a .bak copy beside it, or move "
                "it away to start a new history.")
    folder = path.parent
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise DatabaseOpenError(
            f"history database {path} (or its folder) is read-only; SQLite needs to write "
            "the file and its -wal/-shm files beside it. Fix the permissions or pass "
            "--db / --data-dir pointing to a writable place.")


def open_database(url: str) -> Engine:
    """Create the engine for ``url`` and migrate it to the newest schema.

    An existing SQLite file that needs migrating is first copied to
    ``<name>.<timestamp>.bak`` so an upgrade can always be undone. Raises
    :class:`DatabaseOpenError` with a plain message when the database is corrupt, read-only,
    locked by another process or unreachable.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    db_file = Path(parsed.database) if is_sqlite and parsed.database and \
        parsed.database != ":memory:" else None
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        _check_sqlite_file(db_file)
    engine = create_engine(url)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    cfg = alembic_config(url)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current is None and inspect(conn).get_table_names():
                raise DatabaseOpenError(
                    f"database {parsed.render_as_string(hide_password=True)} holds tables but "
                    "no Alembic version: it is not a history database of this app. "
                    "Point --db elsewhere.")
        if current != head:
            if db_file is not None and current is not None:
                backup = backup_sqlite(db_file)
                log.info("database backed up to %s before migrating", backup)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            log.info("database migrated from %s to %s", current, head)
    except (OperationalError, DBAPIError, sqlite3.Error) as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc))
        hint = ""
        if "locked" in reason:
            hint = " Another program holds a lock on it; close it and start again."
        elif "readonly" in reason or "read-only" in reason:
            hint = " The file is read-only; fix its permissions."
        elif "not a database" in reason or "malformed" in reason:
            hint = " The file is corrupt; restore a .bak copy beside it."
        raise DatabaseOpenError(
            f"cannot open history database {parsed.render_as_string(hide_password=True)}: "
            f"{reason}.{hint}") from exc
    return engine


def has_fts(engine: Engine) -> bool:
    """True when the SQLite full-text index (``generations_fts``) exists."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        return inspect(conn).has_table("generations_fts")
