"""``/sdapi/v1/sd-models`` hashes as A1111 fills them, and the checkpoints a demo offers, over
HTTP on a real server."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.helpers import free_port, small_request
from webui.models.registry import ModelNotFound

JOB = {"prompt": "x", "steps": 1, "width": 64, "height": 64}


def serve_api(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    ctx = create_context(settings)
    return ctx, serve(ctx, block=False, port=free_port())


def listed(client) -> dict:
    r = client.get("/sdapi/v1/sd-models")
    assert r.status_code == 200, r.text
    return {m["model_name"]: m for m in r.json()}


def test_sd_models_hashes_are_filled_once_known_and_kept_in_the_database(settings):
    """Unhashed checkpoints list ``hash``/``sha256`` null (listing never reads a whole file);
    once a job has loaded one, its A1111 short hash, full sha256 and ``name [hash]`` title
    are listed, also by a later server on the same database before any load."""
    settings.api = settings.nowebui = True
    c_file = settings.models_dir / "Stable-diffusion" / "tiny-sdxl-c.safetensors"
    sha = hashlib.sha256(c_file.read_bytes()).hexdigest()
    ctx, server = serve_api(settings)
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            before = listed(client)["tiny-sdxl-c"]
            assert (before["hash"], before["sha256"], before["title"]) == (
                None, None, "tiny-sdxl-c")
            r = client.post("/sdapi/v1/txt2img", json=JOB | {
                "override_settings": {"sd_model_checkpoint": "tiny-sdxl-c"}})
            assert r.status_code == 200, r.text
            after = listed(client)["tiny-sdxl-c"]
            assert (after["hash"], after["sha256"], after["title"]) == (
                sha[:10], sha, f"tiny-sdxl-c [{sha[:10]}]")
            assert listed(client)["tiny-sdxl-b"]["sha256"] is None  # never loaded
    finally:
        server.close()
    ctx, server = serve_api(settings)  # a restart: the hash comes from the database
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            again = listed(client)["tiny-sdxl-c"]
            assert (again["hash"], again["sha256"]) == (sha[:10], sha)
            assert ctx.manager.cached_names() == []  # known without loading it
    finally:
        server.close()


@pytest.mark.parametrize("demo_models, offered", [
    ((), ["tiny-sdxl-b"]),  # no --demo-models: the --ckpt one alone
    (("tiny-sdxl-a", "tiny-sdxl-b"), ["tiny-sdxl-a", "tiny-sdxl-b"]),
])
def test_demo_offers_only_its_checkpoints_at_every_door(settings, demo_models, offered):
    """A demo's visitors choose among ``--demo-models`` (default: ``--ckpt``) only: the UI's
    dropdown, the API's lists, ``options`` and a job's override refuse any other."""
    settings.api, settings.demo, settings.ckpt = True, True, "tiny-sdxl-b"
    settings.demo_models = demo_models
    ctx, server = serve_api(settings)
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            assert sorted(listed(client)) == offered
            engines = [e["id"] for e in client.get("/v1/engines/list").json()]
            assert "tiny-sdxl-c" not in engines
            config = client.get("/config").text  # the UI's checkpoint dropdowns
            assert "tiny-sdxl-c" not in config and offered[-1] in config
            r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "tiny-sdxl-c"})
            assert r.status_code == 404 and "available: " + ", ".join(offered) in r.text
            assert client.get("/sdapi/v1/options").json()[
                "sd_model_checkpoint"].startswith("tiny-sdxl-b")
            r = client.post("/sdapi/v1/txt2img", json=JOB | {
                "override_settings": {"sd_model_checkpoint": "tiny-sdxl-c"}})
            assert r.status_code == 404, r.text
            r = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": offered[0]})
            assert r.status_code == 200, r.text  # switching among the offered ones works
    finally:
        server.close()
    assert "tiny-sdxl-c" not in ctx.manager.cached_names()
    # what a crafted UI event would send: the run path itself refuses it
    with pytest.raises(ModelNotFound, match="this demo offers only " + ", ".join(offered)):
        ctx.jobs.run(small_request(model="tiny-sdxl-c"), owner="visitor")
