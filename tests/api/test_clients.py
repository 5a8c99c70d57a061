"""Real clients against the served app: the ``webuiapi`` package from PyPI, an Open WebUI-style
flow, and the API beside the Gradio UI on one port."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image

from tests.helpers import free_port


def test_webuiapi_client(api):
    webuiapi = pytest.importorskip("webuiapi")
    from webui.engine import RUNNERS

    ctx, client = api
    url = urlparse(str(client.base_url))
    sd = webuiapi.WebUIApi(host=url.hostname, port=url.port, steps=2)
    result = sd.txt2img(prompt="a cat", width=64, height=64, seed=11)
    assert result.image.size == (64, 64) and result.info["seed"] == 11
    assert "Seed: 11" in result.image.info["parameters"]

    names = ctx.manager.checkpoint_names()
    sd.util_set_model(names[1])
    # loaded by the switch, so its A1111 title carries the hash: "name [hash]"
    assert sd.util_get_current_model().split(" [")[0] == names[1]
    assert sorted(sd.util_get_model_names())[0].split(" [")[0] in names
    assert isinstance(sd.get_loras(), list) and isinstance(sd.get_sd_models(), list)
    assert sd.interrupt() == {}
    sd.util_wait_for_ready(check_interval=0.1)

    if "inpaint" not in RUNNERS:
        pytest.skip("inpaint mode is not in webui.engine.RUNNERS yet (issue #4)")
    init = Image.new("RGB", (64, 64), (90, 160, 60))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    result = sd.img2img(images=[init], mask_image=mask, prompt="a tree", width=64, height=64,
                        denoising_strength=0.8, seed=12)
    assert result.image.size == (64, 64)
    assert result.info["sd_model_name"] == names[1]
    assert {r.mode for r in ctx.store.recent()} >= {"txt2img", "inpaint"}


def test_open_webui_style_flow(api):
    ctx, client = api
    options = client.get("/sdapi/v1/options").json()
    models = [m for m in client.get("/sdapi/v1/sd-models").json()
              if m["model_name"] == ctx.manager.checkpoint_names()[-1]]
    options["sd_model_checkpoint"] = models[-1]["title"]
    assert client.post("/sdapi/v1/options", json=options).status_code == 200
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "a dog", "width": 64, "height": 64,
                                               "steps": 2})
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["info"])["sd_model_name"] == models[-1]["model_name"]


def test_api_beside_the_ui_on_one_port(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    settings.api = True
    server = serve(create_context(settings), block=False, port=free_port())
    try:
        base = server.local_url.rstrip("/")
        page = httpx.get(base + "/", timeout=30)
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert httpx.get(base + "/sdapi/v1/samplers", timeout=30).status_code == 200
        assert httpx.get(base + "/docs", timeout=30).status_code == 200
        assert "/sdapi/v1/txt2img" in httpx.get(base + "/openapi.json", timeout=30).json()[
            "paths"]
    finally:
        server.close()


def test_no_api_without_the_flag(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    server = serve(create_context(settings), block=False, port=free_port())
    try:
        base = server.local_url.rstrip("/")
        assert httpx.get(base + "/sdapi/v1/samplers", timeout=30).status_code == 404
    finally:
        server.close()
