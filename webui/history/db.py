"""Open the history database and bring its schema up to date with Alembic."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def open_database(url: str) -> Engine:
    """Create the engine for ``url`` and migrate it to the newest schema.

    An existing SQLite file that needs migrating is first copied to
    ``<name>.<timestamp>.bak`` so an upgrade can always be undone.
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    cfg = alembic_config(url)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        if is_sqlite and current is not None and parsed.database:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = Path(f"{parsed.database}.{stamp}.bak")
            shutil.copy2(parsed.database, backup)
            log.info("database backed up to %s before migrating", backup)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        log.info("database migrated from %s to %s", current, head)
    return engine
