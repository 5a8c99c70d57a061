"""An extension's prompts go through the policy too (issue 15 item 3): a request hook that
changes the prompt gets the same answer as a person typing it — 400 for a blocked one, with
nothing written, and the warnings of a warned one."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import Snapshot, free_port

pytestmark = pytest.mark.server  # one app served on loopback

HOOK = '''
from dataclasses import replace

def setup(ext):
    @ext.on_request
    def spice(job, req):
        if "park" in req.prompt:
            return replace(req, prompt=req.prompt + ", nude")
        if "robot" in req.prompt:
            return replace(req, prompt=req.prompt + ", sexy")
        return None
'''


@pytest.fixture
def served(settings, tmp_path):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    (tmp_path / "extensions" / "spice").mkdir(parents=True)
    (tmp_path / "extensions" / "spice" / "extension.py").write_text(HOOK, encoding="utf-8")
    settings.extensions_dirs = (tmp_path / "extensions",)
    settings.api = True
    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            yield ctx, client
    finally:
        server.close()


def txt2img(client, prompt):
    return client.post("/sdapi/v1/txt2img", json={
        "prompt": prompt, "width": 64, "height": 64, "steps": 1, "seed": 3,
        "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "tiny-sdxl-a"}})


def test_a_hook_cannot_take_a_prompt_around_the_policy(served):
    ctx, client = served
    assert txt2img(client, "a cat").status_code == 200  # untouched by the hook
    snap = Snapshot(ctx)
    r = txt2img(client, "a child in a park")
    assert r.status_code == 400 and r.json()["error"] == "PromptBlocked"
    assert r.json()["detail"].startswith("Sexual content involving minors is not allowed.")
    snap.assert_nothing_written()
    r = txt2img(client, "a robot")
    assert r.status_code == 200
    (warning,) = json.loads(r.json()["info"])["warnings"]
    assert '(rule sexual: "sexy")' in warning
