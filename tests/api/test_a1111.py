"""AUTOMATIC1111 ``/sdapi/v1`` over real HTTP on loopback, with the tiny models."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import pytest
from PIL import Image

from tests.api.conftest import BlockingJob, png_b64
from webui.metadata.infotext import parse_infotext

SMALL = {"width": 64, "height": 64, "steps": 2}
INFO_KEYS = {"prompt", "all_prompts", "seed", "all_seeds", "width", "height", "sampler_name",
             "cfg_scale", "steps", "sd_model_name", "sd_model_hash", "infotexts",
             "negative_prompt", "all_negative_prompts", "batch_size", "job_timestamp"}


def decode(b64: str) -> Image.Image:
    assert not b64.startswith("data:"), "A1111 answers raw base64, no data-URL prefix"
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_txt2img_returns_raw_png_with_infotext_and_info(api):
    ctx, client = api
    r = client.post("/sdapi/v1/txt2img", json={
        "prompt": "a red house", "negative_prompt": "blurry", "seed": 321,
        "sampler_name": "DDIM", "batch_size": 2, **SMALL})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["images"]) == 2
    img = decode(body["images"][0])
    assert img.size == (64, 64)
    parsed = parse_infotext(img.info["parameters"])
    assert parsed["prompt"] == "a red house" and parsed["negative_prompt"] == "blurry"
    assert parsed["params"]["Seed"] == "321" and parsed["params"]["Sampler"] == "DDIM"
    info = json.loads(body["info"])
    assert INFO_KEYS <= set(info)
    assert (info["seed"], info["all_seeds"], info["width"], info["height"]) == \
        (321, [321, 322], 64, 64)
    assert info["sd_model_name"] == ctx.checkpoint.current()
    assert len(info["sd_model_hash"]) == 10
    assert len(info["infotexts"]) == 2 and "Seed: 322" in info["infotexts"][1]
    assert body["parameters"]["prompt"] == "a red house"
    rows = ctx.store.recent()
    assert sorted(r.seed for r in rows) == [321, 322]
    assert {r.owner for r in rows} == {"api"}  # in the shared history, with its owner


def test_unknown_fields_ignored_sillytavern_style(api):
    _, client = api
    body = {"prompt": "cat", "negative_prompt": "", "sampler_name": "Euler a",
            "scheduler": "Automatic", "steps": 2, "cfg_scale": 7, "width": 64, "height": 64,
            "restore_faces": False, "enable_hr": False, "denoising_strength": 0.7,
            "hr_upscaler": "Latent", "hr_scale": 1.0, "seed": -1, "clip_skip": 2,
            "override_settings": {"CLIP_stop_at_last_layers": 2},
            "override_settings_restore_afterwards": True, "some_extension_field": {"x": 1},
            "alwayson_scripts": {}, "save_images": True}
    r = client.post("/sdapi/v1/txt2img", json=body)
    assert r.status_code == 200, r.text
    assert 0 <= json.loads(r.json()["info"])["seed"] < 2**32


def test_sampler_aliases_and_karras_scheduler(api):
    _, client = api
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "sampler_name": "DPM++ 2M",
                                               "scheduler": "Karras", "seed": 1, **SMALL})
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    assert (info["sampler_name"], info["scheduler"]) == ("DPM++ 2M", "Karras")
    assert "Sampler: DPM++ 2M, Schedule type: Karras," in info["infotexts"][0]
    # the combined name (A1111 before 1.9) and the old short alias mean the same
    for body in ({"sampler_name": "DPM++ 2M Karras"}, {"sampler_index": "k_dpmpp_2m_ka"},
                 {"sampler_name": "dpm++ 2m", "scheduler": "karras"}):
        r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "seed": 1, **SMALL, **body})
        assert json.loads(r.json()["info"])["infotexts"] == info["infotexts"], body
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "sampler_name": "nope", **SMALL})
    assert r.status_code == 400 and "unknown sampler" in r.json()["detail"]
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "sampler_name": "Euler a",
                                               "scheduler": "Karras", **SMALL})
    assert r.status_code == 400 and "Euler a has no Karras schedule" in r.json()["detail"]
    # the lists agree: plain samplers, and the schedule types a request takes
    samplers = [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
    schedulers = {s["name"]: s["label"] for s in client.get("/sdapi/v1/schedulers").json()}
    assert "DPM++ 2M" in samplers and "DPM++ 2M Karras" not in samplers
    assert schedulers["karras"] == "Karras" and schedulers["sgm_uniform"] == "SGM Uniform"
    for name in samplers:  # each listed sampler runs with Automatic
        assert client.post("/sdapi/v1/txt2img", json={
            "prompt": "x", "sampler_name": name, "scheduler": "automatic", "send_images": False,
            "width": 64, "height": 64, "steps": 1}).status_code == 200, name


def test_clip_skip_from_override_settings_and_options(api):
    _, client = api
    body = {"prompt": "x", "seed": 3, **SMALL}
    plain = client.post("/sdapi/v1/txt2img", json=body).json()
    two = client.post("/sdapi/v1/txt2img", json={
        **body, "override_settings": {"CLIP_stop_at_last_layers": 2}}).json()
    assert json.loads(plain["info"])["clip_skip"] == 1
    assert json.loads(two["info"])["clip_skip"] == 2
    assert "Clip skip: 2" in json.loads(two["info"])["infotexts"][0]
    assert "Clip skip" not in json.loads(plain["info"])["infotexts"][0]
    assert two["images"][0] != plain["images"][0]
    # the setting itself, as A1111's quicksetting sets it, applies to later jobs
    assert client.post("/sdapi/v1/options",
                       json={"CLIP_stop_at_last_layers": 2}).status_code == 200
    again = client.post("/sdapi/v1/txt2img", json=body).json()
    assert json.loads(again["info"])["clip_skip"] == 2
    client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})


def test_send_images_false(api):
    _, client = api
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "send_images": False, **SMALL})
    assert r.status_code == 200 and r.json()["images"] == []


def test_options_round_trip_and_model_switch(api):
    ctx, client = api
    names = ctx.manager.checkpoint_names()
    assert len(names) >= 2
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"] == ctx.checkpoint.current()
    # Open WebUI: POST the whole dict back with another checkpoint
    options["sd_model_checkpoint"] = names[1]
    options["my_client_setting"] = {"kept": True}
    assert client.post("/sdapi/v1/options", json=options).status_code == 200
    again = client.get("/sdapi/v1/options").json()
    # loaded before the POST answered: its title already carries the hash
    assert again["sd_model_checkpoint"].startswith(f"{names[1]} [")
    assert again["my_client_setting"] == {"kept": True}
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **SMALL})
    info = json.loads(r.json()["info"])
    assert info["sd_model_name"] == names[1]
    # now loaded: its title carries the hash, and the title is accepted back
    title = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    assert title == f"{names[1]} [{info['sd_model_hash']}]"
    assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": title}).status_code \
        == 200
    # by file name of a single-file checkpoint, and by title of another
    models = client.get("/sdapi/v1/sd-models").json()
    single = [m for m in models if m["filename"].endswith(".safetensors")
              and m["model_name"] in names]
    if single:
        fname = single[0]["filename"].rsplit("/", 1)[-1]
        assert client.post("/sdapi/v1/options",
                           json={"sd_model_checkpoint": fname}).status_code == 200
        assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith(
            single[0]["model_name"])
    r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model"})
    assert r.status_code == 404 and "no-such-model" in r.json()["detail"]
    # unknown keys persist across restarts of the options store
    from webui.api.options import ApiOptions

    assert ApiOptions(ctx).get()["my_client_setting"] == {"kept": True}


def test_override_settings_picks_model_for_one_job(api):
    ctx, client = api
    names = ctx.manager.checkpoint_names()
    before = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    assert before == names[0]
    r = client.post("/sdapi/v1/txt2img", json={
        "prompt": "x", "override_settings": {"sd_model_checkpoint": names[1]}, **SMALL})
    assert json.loads(r.json()["info"])["sd_model_name"] == names[1]
    after = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    assert after.split(" [")[0] == names[0]  # restored afterwards (the default)
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **SMALL})
    assert json.loads(r.json()["info"])["sd_model_name"] == names[0]
    r = client.post("/sdapi/v1/txt2img", json={
        "prompt": "x", "override_settings": {"sd_model_checkpoint": names[1]},
        "override_settings_restore_afterwards": False, **SMALL})
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith(names[1])


def test_the_default_checkpoint_is_the_apps_choice_not_the_last_loaded(api):
    """A browser job on another checkpoint loads it, but API jobs that name none keep the
    app's choice (first found, --ckpt, or sd_model_checkpoint), as the options say."""
    from tests.helpers import small_request

    ctx, client = api
    names = ctx.manager.checkpoint_names()
    ctx.jobs.run(small_request(model=names[1]), owner="local")
    assert ctx.manager.current.info.name == names[1]  # the loaded one now
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith(names[0])
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **SMALL})
    assert json.loads(r.json()["info"])["sd_model_name"] == names[0]
    assert client.post("/sdapi/v1/options",
                       json={"sd_model_checkpoint": names[1]}).status_code == 200
    ctx.jobs.run(small_request(model=names[0]), owner="local")
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "x", **SMALL})
    assert json.loads(r.json()["info"])["sd_model_name"] == names[1]
    # a request with no model through the job runner gets the same choice
    assert ctx.jobs.run(small_request(model=None)).result.model_name == names[1]


def test_progress_and_interrupt_touch_only_the_callers_job(api):
    ctx, client = api
    with BlockingJob(ctx) as ui_job:  # a browser user's job holds the device
        p = client.get("/sdapi/v1/progress").json()
        assert p["state"]["job_count"] == 0 and p["progress"] == 0  # not ours
        assert client.post("/sdapi/v1/interrupt").status_code == 200
        assert not ui_job.progress.stopped  # the UI user's job is not stopped

        answer = {}
        thread = threading.Thread(target=lambda: answer.update(r=client.post(
            "/sdapi/v1/txt2img", json={"prompt": "queued", **SMALL})), daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0:
            assert time.monotonic() < deadline, "API job never queued"
            time.sleep(0.05)
        p = client.get("/sdapi/v1/progress").json()
        assert p["state"]["job_count"] == 1 and "Waiting" in p["textinfo"]
        assert client.post("/sdapi/v1/skip").json() == {}  # never another's job
        assert not ui_job.progress.skip_event.is_set()
        assert client.post("/sdapi/v1/interrupt").json() == {}  # stops our own queued job
    thread.join(60)
    assert ui_job.outcome is not None and len(ui_job.outcome.result.images) == 1
    r = answer["r"]
    assert r.status_code == 200 and r.json()["images"] == []
    assert json.loads(r.json()["info"])["interrupted"] is True
    assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0


def test_skip_finishes_the_callers_current_image_and_goes_on(api):
    """A1111's Skip: the image being made is kept as it is, the next one is made in full."""
    _, client = api
    body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 40, "seed": 50,
            "sampler_name": "Euler", "n_iter": 2}
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(
        r=client.post("/sdapi/v1/txt2img", json=body)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] < 3:
        assert thread.is_alive() and time.monotonic() < deadline, "the job never ran"
        time.sleep(0.02)
    assert client.post("/sdapi/v1/skip").json() == {}
    thread.join(120)
    info = json.loads(answer["r"].json()["info"])
    assert info["interrupted"] is False and info["all_seeds"] == [50, 51]
    images = answer["r"].json()["images"]
    full = client.post("/sdapi/v1/txt2img", json={**body, "n_iter": 1}).json()["images"][0]
    second = client.post("/sdapi/v1/txt2img", json={**body, "n_iter": 1, "seed": 51}).json()
    assert images[0] != full  # kept as it was when skipped
    assert images[1] == second["images"][0]  # the next one in full


def test_png_info_reads_saved_image(api):
    _, client = api
    r = client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "seed": 77, **SMALL})
    image = r.json()["images"][0]
    for payload in (image, "data:image/png;base64," + image):  # raw and data URL
        info = client.post("/sdapi/v1/png-info", json={"image": payload}).json()
        assert "Seed: 77" in info["info"] and info["info"].startswith("a cat")
        assert info["parameters"]["Seed"] == "77" and info["parameters"]["Prompt"] == "a cat"
        assert info["parameters"]["Size-1"] == "64"
    plain = client.post("/sdapi/v1/png-info",
                        json={"image": png_b64(Image.new("RGB", (8, 8)))}).json()
    assert plain["info"] == "" and plain["parameters"] == {}


def test_lists(api):
    ctx, client = api
    for path in ("sd-models", "sd-vae", "loras", "samplers", "schedulers", "upscalers",
                 "latent-upscale-modes", "prompt-styles", "extensions", "face-restorers",
                 "hypernetworks"):
        r = client.get(f"/sdapi/v1/{path}")
        assert r.status_code == 200 and isinstance(r.json(), list), path
    for path in ("refresh-checkpoints", "refresh-loras"):
        assert client.post(f"/sdapi/v1/{path}").status_code == 200
    assert client.get("/sdapi/v1/embeddings").json() == {"loaded": {}, "skipped": {}}
    # the built-in X/Y/Z plot (extensions/xyz_plot), in both tab families as A1111 lists it,
    # and ControlNet where clients look for sd-webui-controlnet's always-on script
    assert client.get("/sdapi/v1/scripts").json() == {"txt2img": ["x/y/z plot", "controlnet"],
                                                     "img2img": ["x/y/z plot", "controlnet"]}
    infos = {(s["name"], s["is_img2img"]): s for s in client.get("/sdapi/v1/script-info").json()}
    assert infos["controlnet", False]["is_alwayson"] and ("controlnet", True) in infos
    samplers = [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
    assert "Euler a" in samplers and "DPM++ 2M" in samplers
    models = client.get("/sdapi/v1/sd-models").json()
    assert {m["model_name"] for m in models} >= set(ctx.manager.checkpoint_names())
    assert {"title", "model_name", "hash", "sha256", "filename", "config"} <= set(models[0])
    memory = client.get("/sdapi/v1/memory").json()
    assert memory["ram"]["total"] > 0 and "cuda" in memory


def test_cmd_flags_never_show_credentials(api):
    from webui.api.a1111_lists import cmd_flags

    ctx, client = api
    flags = client.get("/sdapi/v1/cmd-flags").json()
    assert flags["port"] == ctx.settings.port and flags["nowebui"] is True
    assert flags["ckpt_dir"].endswith("Stable-diffusion")
    ctx.settings.db = "postgresql+psycopg://alice:s3cret@db.example/webui"
    shown = json.dumps(cmd_flags(ctx.settings))
    assert "s3cret" not in shown and "alice" in shown


def test_bad_input_is_4xx_with_clear_message(api):
    ctx, client = api
    cases = [
        ("/sdapi/v1/txt2img", {"prompt": "x", "width": 100, "height": 64, "steps": 2}, 400,
         "width must be a multiple of 8"),
        ("/sdapi/v1/txt2img", {"prompt": "x", "batch_size": 100, **SMALL}, 400, "batch size"),
        ("/sdapi/v1/txt2img", {"prompt": "x", "width": 4096, "height": 64}, 400, "width"),
        ("/sdapi/v1/img2img", {"prompt": "x", "init_images": ["%%%not base64%%%"], **SMALL},
         400, "not valid base64"),
        ("/sdapi/v1/img2img", {"prompt": "x", "init_images": [base64.b64encode(
            b"hello, not an image").decode()], **SMALL}, 400, "not a readable image"),
        ("/sdapi/v1/img2img", {"prompt": "x", **SMALL}, 400, "init_images"),
        ("/sdapi/v1/png-info", {"image": "???"}, 400, "base64"),
    ]
    for path, body, status, words in cases:
        r = client.post(path, json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"], r.text
    r = client.post("/sdapi/v1/txt2img", json=["not", "an", "object"])
    assert r.status_code == 422
    r = client.post("/sdapi/v1/txt2img", content=b"{broken json", headers={
        "content-type": "application/json"})
    assert r.status_code == 422
    big = b'{"prompt": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    r = client.post("/sdapi/v1/txt2img", content=big,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert ctx.store.count() == 0
    assert client.post("/sdapi/v1/txt2img", json={"prompt": "x", **SMALL}).status_code == 200


def test_openapi_docs(api):
    _, client = api
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/options",
              "/v1/engines/list", "/v1/generation/{engine_id}/text-to-image",
              "/v1/generation/{engine_id}/image-to-image/masking"):
        assert p in paths
    assert client.get("/", follow_redirects=False).status_code in (302, 307)  # --nowebui


def _need(mode: str):
    from webui.engine import RUNNERS

    if mode not in RUNNERS:
        pytest.skip(f"mode {mode!r} is not in webui.engine.RUNNERS yet (issue #4)")


def test_img2img_and_inpaint(api):
    _need("img2img")
    _need("inpaint")
    ctx, client = api
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    r = client.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": ["data:image/png;base64," + png_b64(init)],
        "denoising_strength": 0.5, "seed": 5, **SMALL})
    assert r.status_code == 200, r.text
    img = decode(r.json()["images"][0])
    assert img.size == (64, 64) and "Denoising strength: 0.5" in img.info["parameters"]
    assert "init_images" not in r.json()["parameters"]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    r = client.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": [png_b64(init)], "mask": png_b64(mask),
        "inpainting_fill": 1, "inpaint_full_res": 0, "include_init_images": True,
        "denoising_strength": 0.75, "seed": 6, **SMALL})
    assert r.status_code == 200, r.text
    assert r.json()["parameters"]["init_images"]
    modes = {row.mode for row in ctx.store.recent()}
    assert modes == {"img2img", "inpaint"}


def test_progress_shows_a_live_preview_of_the_callers_job(api):
    import base64
    import io

    from PIL import Image

    ctx, client = api
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(r=client.post(
        "/sdapi/v1/txt2img", json={"prompt": "a cat", "width": 64, "height": 64,
                                   "steps": 120, "sampler_name": "Euler"})), daemon=True)
    thread.start()
    preview, deadline = None, time.monotonic() + 60
    while preview is None and thread.is_alive() and time.monotonic() < deadline:
        p = client.get("/sdapi/v1/progress").json()
        preview = p["current_image"]
        time.sleep(0.02)
    thread.join(60)
    assert preview is not None, "no preview seen while the job ran"
    with Image.open(io.BytesIO(base64.b64decode(preview))) as img:
        assert img.size == (8, 8)  # the latent-size live preview of a 64 px job
    assert client.get("/sdapi/v1/progress?skip_current_image=true").json()["current_image"] is None
    assert answer["r"].status_code == 200
