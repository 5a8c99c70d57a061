"""The app served for real on loopback, called through gradio_client like any user script."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from tests.helpers import free_port
from webui.metadata.infotext import parse_infotext
from webui.server.uvicorn_server import serve


@pytest.fixture
def served(ctx):
    demo = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_txt2img_endpoint_by_keyword_returns_image_and_writes_row(served):
    ctx, client = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/txt2img"]
    names = [p["parameter_name"] for p in api["parameters"]]
    assert names[:10] == ["prompt", "negative_prompt", "width", "height", "steps", "cfg_scale",
                          "seed", "sampler", "batch_size", "batch_count"]
    assert [p["parameter_has_default"] for p in api["parameters"]][:2] == [False, True]

    gallery, info, seed = client.predict(prompt="a red house", width=64, height=64, steps=2,
                                         seed=321, sampler="DDIM", api_name="/txt2img")
    assert seed == 321
    assert len(gallery) == 1
    with Image.open(gallery[0]["image"]) as img:
        assert img.size == (64, 64)
        params = parse_infotext(img.info["parameters"])["params"]
    assert params["Seed"] == "321" and params["Sampler"] == "DDIM"
    assert "Seed: 321" in info
    (row,) = ctx.store.recent()
    assert (row.prompt, row.seed, row.sampler) == ("a red house", 321, "DDIM")
    assert ctx.store.image_path(row).is_file()


def test_bad_input_is_a_clear_error_and_app_keeps_serving(served):
    ctx, client = served
    with pytest.raises(AppError, match="width must be a multiple of 8, got 100"):
        client.predict(prompt="x", width=100, height=64, api_name="/txt2img")
    with pytest.raises(AppError, match="150"):  # gradio's slider bound or ours
        client.predict(prompt="x", width=64, height=64, steps=500, api_name="/txt2img")
    assert ctx.store.count() == 0
    gallery, _, _ = client.predict(prompt="x", width=64, height=64, steps=1, seed=1,
                                   api_name="/txt2img")
    assert len(gallery) == 1 and ctx.store.count() == 1


def test_batch_through_api(served):
    ctx, client = served
    gallery, _, seed = client.predict(prompt="cat", width=64, height=64, steps=1, seed=10,
                                      batch_size=2, batch_count=2, api_name="/txt2img")
    assert seed == 10 and len(gallery) == 4
    assert sorted(r.seed for r in ctx.store.recent()) == [10, 11, 12, 13]


def test_refiner_vae_and_lora_through_the_tab_endpoint(served):
    ctx, client = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint in ("/txt2img", "/img2img", "/inpaint", "/outpaint"):
        names = {p["parameter_name"] for p in api[endpoint]["parameters"]}
        assert {"refiner", "refiner_switch_at", "vae"} <= names, endpoint
    _, info, _ = client.predict(prompt="a cat <lora:tiny-lora-a:0.5>", width=64, height=64,
                                steps=4, seed=5, refiner="tiny-sdxl-refiner",
                                refiner_switch_at=0.5, vae="tiny-vae-alt",
                                api_name="/txt2img")
    params = parse_infotext(info)["params"]
    assert params["Refiner"].startswith("tiny-sdxl-refiner [")
    assert params["Refiner switch at"] == "0.5"
    assert params["VAE"] == "tiny-vae-alt"
    assert params["Lora hashes"].startswith("tiny-lora-a: ")
    (row,) = ctx.store.recent()
    assert row.params["Refiner switch at"] == "0.5" and row.params["VAE"] == "tiny-vae-alt"
    # "None" from the dropdowns means no refiner / the checkpoint's own VAE
    _, info, _ = client.predict(prompt="a cat", width=64, height=64, steps=2, seed=5,
                                refiner="None", vae="None", api_name="/txt2img")
    assert "Refiner" not in parse_infotext(info)["params"]


def test_live_previews_stream_before_the_result(served):
    ctx, client = served
    job = client.submit(prompt="a cat", width=64, height=64, steps=40, seed=2,
                        api_name="/txt2img")
    final = job.result(timeout=120)
    outputs = job.outputs()
    previews = [o for o in outputs[:-1] if o[1].startswith("Preview at step")]
    assert previews, outputs  # every 5 steps by default: a preview came first
    assert final[2] == 2 and "Seed: 2" in final[1]
    assert ctx.store.count() == 1  # previews are never saved


def test_settings_defaults_shape_the_tabs(ctx, tmp_path):
    from webui.user_settings import SettingsStore

    ctx.user_settings = SettingsStore(tmp_path / "settings.json")
    ctx.user_settings.save(sampler="DDIM", steps=33, cfg_scale=5.5, width=512, height=768,
                           default_model="tiny-sdxl-b", default_refiner="tiny-sdxl-refiner")
    defaults = txt2img_defaults(ctx)
    assert (defaults["sampler"], defaults["steps"], defaults["cfg_scale"]) == ("DDIM", 33, 5.5)
    assert (defaults["width"], defaults["height"]) == (512, 768)
    assert (defaults["model"], defaults["refiner"]) == ("tiny-sdxl-b", "tiny-sdxl-refiner")


def txt2img_defaults(ctx) -> dict:
    """The /txt2img endpoint's parameter defaults, as a served app's API describes them."""
    demo = serve(ctx, block=False, port=free_port())
    try:
        client = Client(demo.local_url, verbose=False)
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        return {p["parameter_name"]: p["parameter_default"]
                for p in api["/txt2img"]["parameters"]}
    finally:
        demo.close()


def test_an_unsaved_size_is_the_default_checkpoints_native_size(ctx, tmp_path):
    """No size in Settings: new jobs start at the checkpoint's native size (128 px for the
    tiny models, whose UNet says so), not SDXL's 1024."""
    from webui.user_settings import SettingsStore

    ctx.user_settings = SettingsStore(tmp_path / "settings.json")
    ctx.user_settings.save(default_model="tiny-sdxl-b")
    native = ctx.manager.native_size("tiny-sdxl-b")
    assert native == 128
    defaults = txt2img_defaults(ctx)
    assert (defaults["width"], defaults["height"]) == (native, native)


def test_refine_an_image_with_the_refiner_in_img2img(served, tmp_path):
    from gradio_client import handle_file

    ctx, client = served
    source = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(source)
    gallery, info, _ = client.predict(prompt="a red square", image=handle_file(str(source)),
                                      width=64, height=64, steps=4, denoising_strength=0.3,
                                      model="tiny-sdxl-refiner", seed=1, api_name="/img2img")
    assert len(gallery) == 1
    params = parse_infotext(info)["params"]
    assert params["Model"] == "tiny-sdxl-refiner" and params["Denoising strength"] == "0.3"
