"""The demo model through the app's doors (the txt2img tab's Gradio endpoint, the A1111 API and
the single-file loader): the picture shows what the prompt says."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.helpers import free_port
from webui.testing import demo_data as dd
from webui.testing.demo_model import NAME

N = dd.NATIVE


@pytest.fixture(scope="module")
def demo_served(demo_models_dir, tmp_path_factory):
    """The app (UI and API) on loopback with only the demo model: (ctx, base URL)."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("demo-served")
    ctx = create_context(Settings(models_dir=demo_models_dir, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu", api=True))
    server = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, server.local_url.rstrip("/")
    finally:
        server.close()


@pytest.mark.server
def test_the_txt2img_tab_draws_the_prompt(demo_served):
    from gradio_client import Client

    ctx, url = demo_served
    s = dd.Sample("circle", "yellow", "blue", "center", "large")
    gallery, _, _ = Client(url, verbose=False).predict(
        prompt=s.caption, width=N, height=N, steps=12, seed=3, sampler="Euler",
        api_name="/txt2img")
    with Image.open(gallery[0]["image"]) as img:
        got = dd.classify(img)
    assert (got.colour, got.background) == ("yellow", "blue"), got
    assert ctx.store.recent()[0].prompt == s.caption


@pytest.mark.server
def test_the_a1111_api_draws_the_prompt(demo_served):
    import httpx

    _, url = demo_served
    s = dd.Sample("star", "green", "white", "top left", "large")
    r = httpx.post(f"{url}/sdapi/v1/txt2img", timeout=120, json={
        "prompt": s.caption, "width": N, "height": N, "steps": 12, "seed": 4,
        "batch_size": 4, "sampler_name": "Euler", "cfg_scale": 5})
    assert r.status_code == 200, r.text
    got = [dd.classify(Image.open(io.BytesIO(base64.b64decode(b))))
           for b in r.json()["images"]]
    assert len(got) == 4
    assert all((g.colour, g.background) == ("green", "white") for g in got), got
    # (a quarter would be stars by chance)
    assert sum(g.shape == "star" for g in got) >= 3, got


def test_the_demo_model_loads_as_a_single_file(demo_models_dir, tmp_path):
    """The same weights as one .safetensors (Stability's key layout, with its config folder)
    draw the same picture through the loader's single-file path."""
    from diffusers import StableDiffusionXLPipeline

    from tests.helpers import small_request
    from webui.engine import run
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry
    from webui.testing.tiny_models import write_single_file

    pipe = StableDiffusionXLPipeline.from_pretrained(
        str(demo_models_dir / "Stable-diffusion" / NAME), local_files_only=True)
    write_single_file(pipe, tmp_path / "Stable-diffusion" / "demo-single.safetensors")
    registry = ModelRegistry(tmp_path / "Stable-diffusion")
    assert [m.format for m in registry.scan()] == ["single-file"]
    s = dd.Sample("circle", "red", "blue", "center", "large")
    req = small_request(model="demo-single", prompt=s.caption, width=N, height=N, steps=12,
                        seed=10, cfg_scale=5)
    got = dd.classify(run(ModelManager(registry, device="cpu"), req).images[0].image)
    assert (got.colour, got.background) == ("red", "blue"), got
