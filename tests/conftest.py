"""Shared fixtures: tiny SDXL models built once per session, and a fresh app context."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# nothing in the tests may reach a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder (A1111 layout) holding the tiny test checkpoints."""
    from webui.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("models")
    write_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def demo_models_dir(tmp_path_factory) -> Path:
    """A models folder holding the shipped demo model (``sdxl-demo-shapes``, a diffusers
    folder), installed the way the README says."""
    from webui.testing.demo_model import install

    root = tmp_path_factory.mktemp("demo-models")
    install(root)
    return root


@pytest.fixture(scope="session")
def control_models_dir(tmp_path_factory) -> Path:
    """A models folder (A1111 layout): tiny checkpoints, ``ControlNet/`` and ``ipadapter/``
    (see webui.testing.tiny_controlnet)."""
    from webui.testing.tiny_controlnet import write_tiny_control_models
    from webui.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("control-models")
    write_tiny_models(root)
    write_tiny_control_models(root)
    return root


@pytest.fixture
def settings(tiny_models_dir, tmp_path):
    from webui.config import Settings

    return Settings(models_dir=tiny_models_dir, outputs_dir=tmp_path / "outputs",
                    data_dir=tmp_path / "data", device="cpu")


@pytest.fixture
def ctx(settings):
    from webui.app import create_context

    return create_context(settings)


@pytest.fixture(scope="module")
def limited_app(tiny_models_dir, tmp_path_factory):
    """One served app (UI + API) with a small ``--max-image-pixels`` (``UPLOAD_LIMIT``) for the
    bad-input tests of tests/ui and tests/api: (ctx, gradio Client, httpx client on its base
    URL, folder for upload files)."""
    import httpx
    from gradio_client import Client

    from tests.helpers import UPLOAD_LIMIT, free_port
    from webui.app import create_context
    from webui.config import Limits, Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("limited")
    settings = Settings(models_dir=tiny_models_dir, outputs_dir=work / "outputs",
                        data_dir=work / "data", device="cpu", api=True,
                        limits=Limits(max_image_pixels=UPLOAD_LIMIT))
    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    files = work / "files"
    files.mkdir()
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as http:
            yield ctx, Client(server.local_url, verbose=False), http, files
    finally:
        server.close()


#: fixtures that start a real HTTP server on loopback
SERVER_FIXTURES = {"api", "served", "secured", "app", "limited_app"}


def pytest_collection_modifyitems(items):
    """Markers for the fast lane: ``browser`` (tests/browser, also ``slow``) and ``server``
    (a real HTTP server on loopback)."""
    for item in items:
        path = str(item.fspath).replace("\\", "/")
        if "/tests/browser/" in path:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
        if "/tests/browser/" in path or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
