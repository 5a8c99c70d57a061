"""Kill a real child process at each step of a write or a delete, restart, check the result.

The child opens the store the way the app does and calls ``os._exit`` right after a chosen
step (or is SIGKILLed at a random moment); the parent then starts the store again, which runs
the reconciler, and checks what a user would see: every listed image opens, no image file is
left without its record, nothing half-written remains.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.history.conftest import make_result

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from tests.history.conftest import make_result
    from webui.history import files, store as store_mod
    from webui.history.db import open_database
    from webui.history.store import HistoryStore

    url, outputs, action, step = sys.argv[1:5]
    store = HistoryStore(open_database(url), Path(outputs))

    def die_after(obj, name, nth=1):
        original = getattr(obj, name)
        calls = []
        def wrapper(*a, **kw):
            out = original(*a, **kw)
            calls.append(1)
            if len(calls) >= nth:
                os._exit(9)
            return out
        setattr(obj, name, wrapper)

    if action == "record":
        die_after(HistoryStore, step)
        store.record(make_result("crash test", seeds=(11, 12)))
    elif action == "delete":
        if step == "one_file":
            die_after(files, "remove_image_files")
        else:
            die_after(HistoryStore, step)
        ids = [r.id for r in store.recent()]
        store.delete(ids)
    elif action == "loop":
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            store.record(make_result(f"loop {{n}}", seeds=(n, n + 1)))
            if n % 3 == 0:
                store.delete([store.recent(limit=1)[0].id])
    os._exit(0)
""").format(root=str(ROOT))


def _child(url, outputs, action, step="", wait=True, tmp_path=None):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    args = [sys.executable, str(script), url, str(outputs), action, step]
    if wait:
        return subprocess.run(args, capture_output=True, text=True, timeout=120)
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _restart(url, outputs):
    from webui.history.db import open_database
    from webui.history.store import HistoryStore

    store = HistoryStore(open_database(url), outputs)
    report = store.reconcile()  # what create_context does at start
    return store, report


def _check_consistent(store):
    """Every record's file opens; every image file has a record; nothing staged remains."""
    rows = store.recent(limit=10_000)
    for row in rows:
        with Image.open(store.image_path(row)) as img:
            img.load()
            assert "crash test" in img.info["parameters"] or "loop" in img.info["parameters"]
    on_disk = {p.relative_to(store.outputs_dir).as_posix()
               for p in store.outputs_dir.rglob("*.png") if ".staging" not in p.parts}
    assert on_disk == {r.image_path for r in rows}
    staging = store.outputs_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    thumbs = {p.stem for p in store.outputs_dir.rglob(".thumbs/0*.webp")}
    assert thumbs <= {Path(r.image_path).stem for r in rows}
    return rows


@pytest.mark.parametrize("step, kept", [
    ("_stage", 0),     # file written, row not committed: both gone
    ("_commit", 1),    # row committed, file still staged: published at restart
    ("_publish", 1),   # renamed, thumbnail not made yet: kept, thumbnail made on demand
])
def test_kill_during_record(db_url, tmp_path, step, kept):
    outputs = tmp_path / "outputs"
    res = _child(db_url, outputs, "record", step, tmp_path=tmp_path)
    assert res.returncode == 9, res.stderr
    store, report = _restart(db_url, outputs)
    rows = _check_consistent(store)
    assert len(rows) == kept
    if step == "_commit":
        assert len(report.published) == 1
    if step == "_stage":
        assert len(report.discarded) == 1
    assert all(store.thumbnail(r).suffix == ".webp" for r in rows)


@pytest.mark.parametrize("step", ["_mark_deleting", "one_file", "_remove_files"])
def test_kill_during_delete(db_url, tmp_path, step):
    outputs = tmp_path / "outputs"
    from webui.history.db import open_database
    from webui.history.store import HistoryStore

    first = HistoryStore(open_database(db_url), outputs)
    first.record(make_result("crash test", seeds=(1, 2, 3)))
    first.engine.dispose()
    res = _child(db_url, outputs, "delete", step, tmp_path=tmp_path)
    assert res.returncode == 9, res.stderr
    store, report = _restart(db_url, outputs)
    assert _check_consistent(store) == []  # the delete the user asked for is finished
    assert len(report.deleted) == 3
    assert list(outputs.rglob("*.png")) == [] and list(outputs.rglob("0*.webp")) == []


def test_sigkill_at_random_moments(tmp_path):
    url = f"sqlite:///{tmp_path / 'webui.db'}"
    outputs = tmp_path / "outputs"
    for delay in (0.05, 0.2, 0.35, 0.6):
        child = _child(url, outputs, "loop", wait=False, tmp_path=tmp_path)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        store, _ = _restart(url, outputs)
        rows = _check_consistent(store)
        store.engine.dispose()
    assert rows, "the child recorded nothing before being killed"
