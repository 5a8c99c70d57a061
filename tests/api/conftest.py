"""The app served for real on loopback with the API on (``--api``), called over HTTP."""

from __future__ import annotations

import base64
import io
import threading

import httpx
import pytest
from PIL import Image

from tests.helpers import free_port


@pytest.fixture
def api_ctx(settings):
    """An app context whose settings enable the API without the UI (``--nowebui``)."""
    from webui.app import create_context

    settings.api = True
    settings.nowebui = True
    return create_context(settings)


@pytest.fixture
def api(api_ctx):
    """(ctx, httpx client on the running server's base URL)."""
    from webui.server.uvicorn_server import serve

    server = serve(api_ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            yield api_ctx, client
    finally:
        server.close()


def png_b64(img: Image.Image) -> str:
    """A PIL image as raw base64 PNG."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class BlockingJob:
    """A UI-owned job that holds the device until released: it blocks at its first step."""

    def __init__(self, ctx, owner: str = "ui-session"):
        from tests.helpers import small_request
        from webui.engine.progress import JobProgress

        self.started = threading.Event()
        self.release = threading.Event()
        self.progress = JobProgress()
        self.progress.listeners.append(self._hold)
        self.outcome = None
        req = small_request(steps=2)
        self.thread = threading.Thread(
            target=lambda: setattr(self, "outcome", ctx.jobs.run(req, owner=owner,
                                                                progress=self.progress)),
            daemon=True)

    def _hold(self, _progress):
        self.started.set()
        self.release.wait(60)

    def __enter__(self):
        self.thread.start()
        assert self.started.wait(120), "blocking job never started"
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(120)
