"""A database the app cannot use and an image deleted behind the app's back (issue 6's "Bad
input"), through the real app start and gallery tab.

Covered elsewhere: hostile search strings and a missing file on delete (test_gallery_store),
corrupt or foreign databases (test_database).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import small_request


def _db_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'webui.db'}"


def test_database_locked_by_another_process_is_a_clear_error_at_start(settings):
    """Another program holds an exclusive lock on webui.db: starting the app says so (after
    the busy timeout) and leaves the file as it was."""
    from webui.app import create_context
    from webui.history.db import DatabaseOpenError, open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = settings.data_dir / "webui.db"
    open_database(_db_url(settings.data_dir)).dispose()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys
            conn = sqlite3.connect({str(db)!r}, isolation_level=None)
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("CREATE TABLE IF NOT EXISTS lock_probe (x)")
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseOpenError, match="lock"):
            create_context(settings)
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert create_context(settings).store.count() == 0  # usable once the lock is gone


def test_read_only_database_is_a_clear_error_at_start(settings, monkeypatch):
    """webui.db (and its folder) made read-only: starting the app says so plainly, and the
    file is left untouched. Root may write anything, so when the tests run as root the
    permission check sees the file's mode bits as an ordinary user would."""
    from webui.app import create_context
    from webui.history import db as dbmod
    from webui.history.db import DatabaseOpenError, open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    open_database(_db_url(settings.data_dir)).dispose()
    db = settings.data_dir / "webui.db"
    for extra in settings.data_dir.glob("webui.db-*"):
        extra.unlink()
    before = db.read_bytes()
    if os.geteuid() == 0:
        real_access = os.access

        def as_a_user(path, mode, *a, **kw):
            if mode & os.W_OK:
                return bool(os.stat(path).st_mode & 0o200)
            return real_access(path, mode, *a, **kw)

        monkeypatch.setattr(dbmod.os, "access", as_a_user)
    db.chmod(0o444)
    settings.data_dir.chmod(0o555)
    try:
        with pytest.raises(DatabaseOpenError, match="read-only") as err:
            create_context(settings)
        assert str(db) in str(err.value) and "permissions" in str(err.value)
    finally:
        settings.data_dir.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == before
    assert not list(settings.data_dir.glob("webui.db.*.bak"))  # nothing recreated or copied


def test_image_file_missing_on_disk_keeps_the_gallery_working(ctx):
    """An image deleted outside the app (its row stays): the gallery page still loads with a
    placeholder tile, the record is still readable, and deleting it works."""
    import gradio as gr

    from webui.ui.history import build_gallery_tab

    kept, gone = ctx.jobs.run(small_request(batch_size=2)).saved
    ctx.store.thumbnail(ctx.store.get(gone.id))  # a thumbnail was made earlier
    gone.path.unlink()
    for thumb in Path(ctx.settings.outputs_dir).rglob(f"{gone.path.stem}*.webp"):
        thumb.unlink()
    with gr.Blocks():
        tab = build_gallery_tab(ctx)
    items, ids, *_ = tab.load(None)
    assert set(ids) == {kept.id, gone.id}
    tiles = dict(zip(ids, (path for path, _ in items)))
    assert Path(tiles[gone.id]).is_file() and gone.path.stem not in Path(tiles[gone.id]).name
    assert Path(tiles[kept.id]).is_file()
    assert ctx.store.delete([gone.id]) == 1
    assert ctx.store.count() == 1 and kept.path.is_file()
