"""``/sdapi/v1/train/lora`` over real HTTP on loopback: queue a training, poll it to done, use
the LoRA in ``/sdapi/v1/txt2img``; stop and resume; bad input answers 4xx with the reason and
leaves nothing behind; the routes are in the OpenAPI schema and behind the API's auth."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import png_b64
from tests.helpers import free_port
from tests.training.helpers import huge_png_header, models_copy, pattern
from tests.helpers import b64

URL = "/sdapi/v1/train/lora"


@pytest.fixture
def settings(tiny_models_dir, tmp_path):
    """Settings on a models folder of its own: trained LoRAs land in it."""
    from webui.config import Settings

    models = models_copy(tiny_models_dir, tmp_path / "models")
    return Settings(models_dir=models, outputs_dir=tmp_path / "outputs",
                    data_dir=tmp_path / "data", device="cpu")


def body(name="api-subject", **kw) -> dict:
    out = {"name": name, "trigger": "ohwx", "class_word": "product",
           "images": [png_b64(pattern(i)) for i in range(3)], "steps": 4, "rank": 4,
           "resolution": 64, "learning_rate": 0.01, "seed": 2, "base_model": "tiny-sdxl-a"}
    out.update(kw)
    return out


def poll(client, job_id, until=("done", "failed", "stopped"), timeout=300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"{URL}/{job_id}")
        assert r.status_code == 200, r.text
        if r.json()["state"] in until:
            return r.json()
        assert time.monotonic() < deadline, f"still {r.json()}"
        time.sleep(0.1)


def test_train_poll_and_use_the_lora(api):
    ctx, client = api
    r = client.post(URL, json=body())
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    done = poll(client, job_id)
    assert done["state"] == "done" and done["lora"] == "api-subject", done
    assert done["step"] == done["total_steps"] == 4 and done["loss"] > 0
    listed = client.get(URL).json()
    assert [j["id"] for j in listed] == [job_id]
    # the A1111 LoRA list and a txt2img job see it at once
    loras = client.get("/sdapi/v1/loras").json()
    assert "api-subject" in [x["name"] for x in loras]
    gen = dict(prompt="a photo of ohwx product <lora:api-subject:1>", width=64, height=64,
               steps=2, seed=3, sampler_name="Euler", override_settings={
                   "sd_model_checkpoint": "tiny-sdxl-a"})
    r = client.post("/sdapi/v1/txt2img", json=gen)
    assert r.status_code == 200, r.text
    assert "api-subject" in r.json()["info"]


def test_stop_and_resume_over_http(api):
    ctx, client = api
    job_id = client.post(URL, json=body("api-halted", steps=400)).json()["id"]
    deadline = time.monotonic() + 120
    while client.get(f"{URL}/{job_id}").json()["step"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    running = client.get(f"{URL}/{job_id}").json()
    assert running["state"] == "running" and running["eta"] is not None and running["eta"] > 0
    assert client.post(f"{URL}/{job_id}/stop").status_code == 200
    stopped = poll(client, job_id)
    assert stopped["state"] == "stopped" and stopped["step"] < 400 and stopped["lora"] is None
    lora = Path(ctx.settings.models_dir) / "Lora" / "api-halted.safetensors"
    assert not lora.exists()
    r = client.post(f"{URL}/{job_id}/resume")
    assert r.status_code == 202, r.text
    assert poll(client, job_id, until=("running", "done"))["step"] >= stopped["step"]
    client.post(f"{URL}/{job_id}/stop")
    assert poll(client, job_id)["state"] == "stopped"


@pytest.mark.parametrize("change, status, words", [
    ({"images": []}, 400, "3 to 50 images"),
    ({"images": ["aGVsbG8="] * 3}, 400, "training image 1"),
    ({"images": ["%%%"] * 3}, 400, "not valid base64"),
    ({"images": [b64(huge_png_header())] * 3}, 400, "training image 1"),
    ({"steps": 0}, 400, "steps must be between 1 and 100000"),
    ({"steps": 1_000_000}, 400, "steps must be between 1 and 100000"),
    ({"name": "../../etc/x"}, 400, "plain name"),
    ({"base_model": "nope"}, 400, "nope"),
    ({"rank": "many"}, 422, "rank"),
    ({"unknown_field": 1}, 422, "unknown_field"),
])
def test_bad_input_gets_a_clear_answer_and_leaves_nothing(api, change, status, words):
    ctx, client = api
    r = client.post(URL, json=body(**change))
    assert r.status_code == status, r.text
    assert words in r.text
    assert client.get(URL).json() == []
    lora_dir = Path(ctx.settings.models_dir) / "Lora"
    assert not any(lora_dir.iterdir())
    assert not (Path(ctx.settings.data_dir) / "training").exists() or not any(
        (Path(ctx.settings.data_dir) / "training").iterdir())


def test_unknown_jobs_are_404(api):
    _, client = api
    assert client.get(f"{URL}/999").status_code == 404
    assert client.post(f"{URL}/999/stop").status_code == 404
    assert client.post(f"{URL}/999/resume").status_code == 404


def test_the_routes_are_in_the_openapi_schema(api):
    _, client = api
    paths = client.get("/openapi.json").json()["paths"]
    assert {URL, f"{URL}/{{job_id}}", f"{URL}/{{job_id}}/stop"} <= set(paths)
    assert "post" in paths[URL] and "202" in paths[URL]["post"]["responses"]


def test_training_needs_the_apis_credentials(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    settings.api = True
    settings.nowebui = True
    settings.api_auth = "trainer:secret"
    server = serve(create_context(settings), block=False, port=free_port())
    try:
        base = server.local_url.rstrip("/")
        with httpx.Client(base_url=base, timeout=60) as client:
            assert client.post(URL, json=body()).status_code == 401
            assert client.get(URL).status_code == 401
        with httpx.Client(base_url=base, timeout=60, auth=("trainer", "secret")) as client:
            assert client.get(URL).status_code == 200
    finally:
        server.close()
