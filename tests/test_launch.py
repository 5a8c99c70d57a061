"""``python launch.py``: flags, env vars, and a real start that loads no model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from webui.config import parse_settings

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--port", "--listen", "--models-dir", "--outputs-dir", "--data-dir", "--db", "--ckpt",
         "--device", "--dtype"]


def test_help_explains_every_flag():
    out = subprocess.run([sys.executable, "launch.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    for flag in FLAGS:
        assert flag in out
    assert "WEBUI_" in out


def test_env_vars_and_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBUI_PORT", "9999")
    monkeypatch.setenv("WEBUI_LISTEN", "1")
    monkeypatch.setenv("WEBUI_MODELS_DIR", str(tmp_path))
    s = parse_settings([])
    assert (s.port, s.host, s.models_dir) == (9999, "0.0.0.0", tmp_path)
    s = parse_settings(["--port", "7000", "--dtype", "bf16", "--db", "sqlite:///x.db"])
    assert (s.port, s.dtype, s.db_url) == (7000, "bf16", "sqlite:///x.db")
    monkeypatch.delenv("WEBUI_LISTEN")
    assert parse_settings([]).host == "127.0.0.1"


def test_starts_serving_without_loading_a_model(tiny_models_dir, tmp_path):
    from tests.ui.test_gradio_api import free_port

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "launch.py", "--port", str(port), "--models-dir", str(tiny_models_dir),
         "--outputs-dir", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
         "--ckpt", "tiny-sdxl-b"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "app did not start in 120 s"
                time.sleep(0.5)
        assert "gradio" in page.lower()
        config = urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5).read()
        assert b"tiny-sdxl-b" in config  # --ckpt is the selected checkpoint
        assert (tmp_path / "data" / "webui.db").is_file()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "loading checkpoint" not in out  # models load on first use, not at start
