"""``--api`` and ``--nowebui``: flags, env vars and help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from webui.config import parse_settings

ROOT = Path(__file__).resolve().parents[2]


def test_api_flags_and_env(monkeypatch):
    monkeypatch.delenv("WEBUI_API", raising=False)
    monkeypatch.delenv("WEBUI_NOWEBUI", raising=False)
    s = parse_settings([])
    assert (s.api, s.nowebui, s.api_enabled) == (False, False, False)
    assert parse_settings(["--api"]).api_enabled
    s = parse_settings(["--nowebui"])
    assert s.nowebui and s.api_enabled  # --nowebui implies the API
    monkeypatch.setenv("WEBUI_API", "1")
    assert parse_settings([]).api
    monkeypatch.setenv("WEBUI_NOWEBUI", "true")
    assert parse_settings([]).nowebui


def test_help_lists_api_flags():
    out = subprocess.run([sys.executable, "launch.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "--api" in out and "--nowebui" in out and "/docs" in out
