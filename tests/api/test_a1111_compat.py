"""A1111 compatibility details (issue #10 item 6), over real HTTP on loopback with the tiny
models: a checkpoint set through ``/sdapi/v1/options`` is loaded before the answer, the
options dict has A1111's default keys, the ``PLMS`` sampler, ``/sdapi/v1/realesrgan-models``,
and low denoising strengths that A1111 accepts."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading

import httpx
import pytest
from PIL import Image

from tests.api.conftest import BlockingJob, png_b64
from tests.helpers import free_port
from webui.api.a1111_defaults import A1111_DEFAULTS
from webui.metadata.infotext import parse_infotext

SMALL = {"width": 64, "height": 64, "steps": 2}


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def not_loaded(ctx) -> str:
    """A base checkpoint that is not in the RAM cache yet."""
    names = [n for n in ctx.manager.checkpoint_names() if "refiner" not in n]
    name = next(n for n in names if n not in ctx.manager.cached_names())
    return name


# -- sd_model_checkpoint loads before POST /options answers -----------------------------------

def test_options_checkpoint_is_loaded_before_the_answer(api):
    ctx, client = api
    client.post("/sdapi/v1/txt2img", json={"prompt": "warm up", **SMALL}).raise_for_status()
    name = not_loaded(ctx)
    title = next(m["title"] for m in client.get("/sdapi/v1/sd-models").json()
                 if m["model_name"] == name)

    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": title})
    assert r.status_code == 200, r.text
    assert name in ctx.manager.cached_names()  # loaded already, not on the next job
    # its title, now with the hash the load computed: "name [hash]"
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith(name)

    loads = ctx.manager.loads_from_disk
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "seed": 3, **SMALL})
    assert r.status_code == 200, r.text
    assert ctx.manager.loads_from_disk == loads  # the job found it ready
    info = json.loads(r.json()["info"])
    assert info["sd_model_name"] == name
    assert f"Model: {name}" in decode(r.json()["images"][0]).info["parameters"]


def test_options_unknown_checkpoint_is_404_and_changes_nothing(api):
    ctx, client = api
    before = client.get("/sdapi/v1/options").json()
    loads = ctx.manager.loads_from_disk
    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model",
                                               "send_seed": not before["send_seed"]})
    assert r.status_code == 404
    assert "no-such-model" in r.text and "not found" in r.text
    after = client.get("/sdapi/v1/options").json()
    assert after["sd_model_checkpoint"] == before["sd_model_checkpoint"]
    assert after["send_seed"] == before["send_seed"]  # the whole POST was refused
    assert ctx.manager.loads_from_disk == loads


def test_options_checkpoint_waits_for_the_running_job(api):
    """The load takes its turn on the device queue: it never races a running job."""
    ctx, client = api
    answer = {}

    def post():
        answer["r"] = httpx.post(f"{client.base_url}/sdapi/v1/options",
                                 json={"sd_model_checkpoint": name}, timeout=120)

    with BlockingJob(ctx):
        name = not_loaded(ctx)  # not the one the running job uses
        loads = ctx.manager.loads_from_disk
        thread = threading.Thread(target=post, daemon=True)
        thread.start()
        thread.join(1.5)
        assert thread.is_alive(), "the checkpoint loaded while another job held the device"
        assert ctx.manager.loads_from_disk == loads
    thread.join(120)
    assert answer["r"].status_code == 200, answer["r"].text
    assert name in ctx.manager.cached_names()


@pytest.fixture
def broken_models_api(settings, tiny_models_dir, tmp_path):
    """A served app whose models folder holds one good checkpoint and a truncated
    single-file one (the download that stopped half way)."""
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    root = tmp_path / "models"
    sd = root / "Stable-diffusion"
    sd.mkdir(parents=True)
    src = tiny_models_dir / "Stable-diffusion"
    shutil.copytree(src / "tiny-sdxl-a", sd / "tiny-sdxl-a")
    shutil.copytree(src / "tiny-sdxl-c.config", sd / "broken.config")
    data = (src / "tiny-sdxl-c.safetensors").read_bytes()
    (sd / "broken.safetensors").write_bytes(data[: len(data) // 2])
    settings.models_dir = root
    settings.api = settings.nowebui = True
    settings.ckpt = "tiny-sdxl-a"
    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            yield ctx, client
    finally:
        server.close()


def test_options_truncated_checkpoint_is_refused_with_the_reason(broken_models_api):
    ctx, client = broken_models_api
    assert set(ctx.manager.checkpoint_names()) == {"tiny-sdxl-a", "broken"}
    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "tiny-sdxl-a"})
    assert r.status_code == 200, r.text

    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "broken"})
    assert 400 <= r.status_code < 500
    assert "truncated" in r.text  # the loader's own reason
    assert "broken" not in ctx.manager.cached_names()
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith(
        "tiny-sdxl-a")
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "still works", **SMALL})
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["info"])["sd_model_name"] == "tiny-sdxl-a"


# -- A1111's default option keys ----------------------------------------------------------------

def test_options_answer_a1111_default_keys_and_values(api):
    _, client = api
    options = client.get("/sdapi/v1/options").json()
    missing = set(A1111_DEFAULTS) - set(options)
    assert not missing, f"A1111 keys missing: {sorted(missing)}"
    expected = {"send_seed": True, "send_size": True, "samples_save": True,
                "samples_format": "png", "CLIP_stop_at_last_layers": 1,
                "eta_noise_seed_delta": 0, "sd_vae": "Automatic", "outdir_samples": "",
                "jpeg_quality": 80, "show_progress_every_n_steps": 10,
                "face_restoration_model": "CodeFormer", "quicksettings_list":
                    ["sd_model_checkpoint"]}
    assert {k: options[k] for k in expected} == expected
    assert options["outdir_txt2img_samples"].endswith("txt2img-images")
    assert options["outdir_img2img_samples"].endswith("img2img-images")


def test_options_a1111_keys_are_writable_and_kept(api):
    """A1111's own API test flips ``send_seed``; clients write such keys and read them back."""
    ctx, client = api
    changes = {"send_seed": False, "CLIP_stop_at_last_layers": 2, "samples_format": "webp",
               "eta_noise_seed_delta": 31337}
    assert client.post("/sdapi/v1/options", json=changes).status_code == 200
    options = client.get("/sdapi/v1/options").json()
    assert {k: options[k] for k in changes} == changes
    saved = json.loads((ctx.settings.data_dir / "api-options.json").read_text())
    assert saved["send_seed"] is False  # survives a restart
    assert client.post("/sdapi/v1/options", json={"send_seed": True}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["send_seed"] is True


# -- PLMS ---------------------------------------------------------------------------------------

def test_plms_is_listed_and_runs_txt2img_and_img2img(api):
    _, client = api
    samplers = {s["name"]: s for s in client.get("/sdapi/v1/samplers").json()}
    assert "PLMS" in samplers and "plms" in samplers["PLMS"]["aliases"]

    r = client.post("/sdapi/v1/txt2img", json={"prompt": "a lake", "sampler_name": "PLMS",
                                               "seed": 8, **SMALL})
    assert r.status_code == 200, r.text
    img = decode(r.json()["images"][0])
    assert img.size == (64, 64)
    params = parse_infotext(img.info["parameters"])["params"]
    assert params["Sampler"] == "PLMS" and params["Seed"] == "8"
    assert json.loads(r.json()["info"])["sampler_name"] == "PLMS"

    init = Image.new("RGB", (64, 64), (40, 120, 200))
    r = client.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init)], "prompt": "a lake", "sampler_index": "PLMS",
        "denoising_strength": 0.6, "width": 64, "height": 64, "steps": 4})
    assert r.status_code == 200, r.text
    img = decode(r.json()["images"][0])
    assert img.size == (64, 64) and "Sampler: PLMS" in img.info["parameters"]


# -- realesrgan-models --------------------------------------------------------------------------

def test_realesrgan_models_is_an_empty_list_like_the_upscalers(api):
    _, client = api
    r = client.get("/sdapi/v1/realesrgan-models")
    assert r.status_code == 200 and r.json() == []
    upscalers = client.get("/sdapi/v1/upscalers").json()
    # the upscalers listed are plain resizers: no Real-ESRGAN model among them
    assert all(u["model_name"] is None and "ESRGAN" not in u["name"] for u in upscalers)


# -- low denoising strengths are accepted (the engine runs one step, as A1111 does) ------------

def test_hires_fix_with_denoising_strength_zero_gives_an_image(api):
    _, client = api
    r = client.post("/sdapi/v1/txt2img", json={
        "prompt": "a hill", "enable_hr": True, "denoising_strength": 0, "hr_scale": 2,
        "seed": 4, "width": 64, "height": 64, "steps": 3})
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len(images) == 1 and decode(images[0]).size == (128, 128)


def test_img2img_whose_steps_round_to_zero_gives_an_image(api):
    _, client = api
    init = Image.new("RGB", (64, 64), (200, 80, 40))
    r = client.post("/sdapi/v1/img2img", json={
        "init_images": [png_b64(init)], "prompt": "a fox", "denoising_strength": 0.3,
        "steps": 2, "width": 64, "height": 64, "seed": 6})
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len(images) == 1 and decode(images[0]).size == (64, 64)
