"""History fixtures: a store on SQLite and on a real throwaway PostgreSQL server.

The PostgreSQL server is started once per session with ``initdb`` + ``pg_ctl`` in a temporary
folder on a free loopback port (as the ``postgres`` user when the tests run as root). When
PostgreSQL or psycopg is not installed the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "metadata"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """``(host, port)`` of a PostgreSQL server that lives for the test session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests skipped: psycopg is not installed "
                    "(pip install 'psycopg[binary]')")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL tests skipped: initdb/pg_ctl not found "
                    "(apt-get install -y postgresql)")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="webui-pg-"))
    if user:
        shutil.chown(root, user)
    data, port = root / "data", _free_port()
    run = dict(user=user, capture_output=True, text=True, timeout=120)
    res = subprocess.run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                          "-E", "UTF8", "--no-sync"], **run)
    if res.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: initdb failed: {res.stderr.strip()[-300:]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    res = subprocess.run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"),
                          "-w", "start"], **run)
    if res.returncode != 0:
        log = (root / "log").read_text(errors="replace")[-500:] if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL tests skipped: server did not start: {res.stderr} {log}")
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **run)
        shutil.rmtree(root, ignore_errors=True)


def _new_pg_database(host: str, port: int) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database URL: an SQLite file, or a new database on the test server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'webui.db'}"
    host, port = request.getfixturevalue("pg_server")
    return _new_pg_database(host, port)


@pytest.fixture
def store(db_url, tmp_path):
    """A migrated history store on ``db_url`` writing under ``tmp_path/outputs``."""
    from webui.history.db import open_database
    from webui.history.store import HistoryStore

    engine = open_database(db_url)
    yield HistoryStore(engine, tmp_path / "outputs")
    engine.dispose()


def make_result(prompt="a photo of a cat", negative="", seeds=(1,), mode="txt2img",
                model="tiny-sdxl-a", size=(64, 48), color=(200, 30, 30), sampler="Euler",
                steps=2):
    """A real GenerationResult with small solid-colour images (no diffusion needed)."""
    from webui.engine.result import GeneratedImage, GenerationResult
    from webui.metadata.infotext import format_infotext
    from webui.request import GenerationRequest

    req = GenerationRequest(prompt=prompt, negative_prompt=negative, width=size[0],
                            height=size[1], steps=steps, sampler=sampler, mode=mode,
                            seed=seeds[0])
    images = []
    for seed in seeds:
        params = {"Steps": steps, "Sampler": sampler, "CFG scale": "7", "Seed": seed,
                  "Size": f"{size[0]}x{size[1]}", "Model hash": "0123456789", "Model": model}
        images.append(GeneratedImage(Image.new("RGB", size, color), seed,
                                     format_infotext(prompt, negative, params), params))
    return GenerationResult(req, images, model_name=model, model_hash="0123456789",
                            seed=seeds[0], duration=0.5)
