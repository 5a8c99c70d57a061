"""One app served on loopback (UI + API) for the provenance doors' tests."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import free_port


@pytest.fixture(scope="module")
def served(tiny_models_dir, tmp_path_factory):
    """(ctx, httpx client on the served app's base URL, its base URL)."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("provenance-app")
    ctx = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu", api=True))
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=180) as http:
            yield ctx, http, server.local_url
    finally:
        server.close()
