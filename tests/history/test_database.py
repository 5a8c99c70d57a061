"""Opening the database: migrations from an older schema with a backup, pragmas, bad files."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from webui.history.db import DatabaseOpenError, alembic_config, open_database
from webui.history.query import GalleryQuery
from webui.history.store import HistoryStore


def _old_database(path):
    """A database at revision 0001 (the walking skeleton) holding one row."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text(
            "INSERT INTO generations (created_at, mode, prompt, negative_prompt, width, height,"
            " steps, cfg_scale, sampler, seed, model_name, model_hash, params, infotext,"
            " image_path, duration) VALUES (:t, 'txt2img', 'an old lighthouse', 'fog', 64, 64,"
            " 2, 7, 'Euler', 5, 'm', 'h', '{}', '', 'txt2img-images/x/00001-5.png', 1)"),
            {"t": datetime(2025, 1, 2, tzinfo=timezone.utc)})
    engine.dispose()
    return url


def test_old_database_upgraded_after_backup_and_searchable(tmp_path):
    url = _old_database(tmp_path / "webui.db")
    engine = open_database(url)
    backups = list(tmp_path.glob("webui.db.*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as old:  # the backup is the old schema with its row
        assert old.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert old.execute("SELECT prompt FROM generations").fetchone() == ("an old lighthouse",)
    store = HistoryStore(engine, tmp_path / "outputs")
    assert store.fts
    page = store.search(GalleryQuery(text="lighthouse"))
    assert [r.prompt for r in page.rows] == ["an old lighthouse"]  # old rows are indexed
    assert store.search(GalleryQuery(text="fog")).total == 1
    engine.dispose()
    open_database(url).dispose()  # already current: no second backup
    assert len(list(tmp_path.glob("webui.db.*.bak"))) == 1


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'webui.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_corrupt_file_is_reported_and_left_untouched(tmp_path):
    db = tmp_path / "webui.db"
    junk = b"this is not a database\x00" * 100
    db.write_bytes(junk)
    with pytest.raises(DatabaseOpenError, match="not an SQLite database"):
        open_database(f"sqlite:///{db}")
    assert db.read_bytes() == junk


def test_damaged_sqlite_pages_are_reported(tmp_path):
    db = tmp_path / "webui.db"
    open_database(f"sqlite:///{db}").dispose()
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # wreck the schema page, keep the header
    db.write_bytes(bytes(data))
    with pytest.raises(DatabaseOpenError, match="cannot open history database"):
        open_database(f"sqlite:///{db}")


def test_foreign_database_is_not_taken_over(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(DatabaseOpenError, match="not a history database"):
        open_database(f"sqlite:///{db}")
