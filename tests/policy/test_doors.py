"""Every door answers the prompt table the same (issue 15 items 3 and 7): the txt2img tab's
endpoint (gradio_client), the A1111 API and the Stability API of one app served on loopback.
A blocked prompt is refused with the rule's message (gr.Error, 400, 400 invalid_prompts) and
leaves nothing in outputs or the database; a warned one runs and its warnings come back
(gr.Warning and the Generation parameters box, A1111's info["warnings"], Stability's
Prompt-Warnings header)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.helpers import Snapshot, free_port
from tests.policy.prompts import PROMPTS, test_policy_text

pytestmark = pytest.mark.server  # one app served on loopback

MODEL = "tiny-sdxl-a"
SMALL = dict(width=64, height=64, steps=1, seed=1)


@pytest.fixture(scope="module")
def doors(tiny_models_dir, tmp_path_factory):
    """(ctx, gradio Client, httpx client) of one app with the UI and the API, running the
    test policy (the shipped one plus three artists)."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("doors")
    policy = work / "policy.toml"
    policy.write_text(test_policy_text(), encoding="utf-8")
    ctx = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu", api=True,
                                  policy=policy))
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as http:
            yield ctx, Client(server.local_url, verbose=False), http
    finally:
        server.close()


def toasts(job) -> list[tuple[str, str]]:
    """(message, level) of the gr.Info/gr.Warning toasts a finished gradio_client job got."""
    out = []
    while True:
        try:
            update = job.communicator.updates.get_nowait()
        except asyncio.QueueEmpty:
            return out
        if getattr(update, "log", None):
            out.append(update.log)


def ui_door(client: Client, prompt: str, negative: str):
    job = client.submit(prompt=prompt, negative_prompt=negative, sampler="Euler", model=MODEL,
                        api_name="/txt2img", **SMALL)
    try:
        _, info, _ = job.result(timeout=120)
    except AppError as exc:
        return "block", [str(exc)]
    shown = [line[len("Warning: "):] for line in info.splitlines()
             if line.startswith("Warning: ")]
    toasted = [message for message, level in toasts(job) if level == "warning"]
    assert toasted == shown, "the toast and the Generation parameters box disagree"
    return ("warn" if shown else "pass"), shown


def a1111_door(http: httpx.Client, prompt: str, negative: str):
    r = http.post("/sdapi/v1/txt2img", json={
        "prompt": prompt, "negative_prompt": negative, "sampler_name": "Euler",
        "override_settings": {"sd_model_checkpoint": MODEL}, **SMALL})
    if r.status_code == 400:
        body = r.json()
        assert body["error"] == "PromptBlocked"
        return "block", [body["detail"]]
    assert r.status_code == 200, r.text
    warnings = json.loads(r.json()["info"])["warnings"]
    return ("warn" if warnings else "pass"), warnings


def stability_door(http: httpx.Client, prompt: str, negative: str):
    texts = [{"text": prompt}] + ([{"text": negative, "weight": -1}] if negative else [])
    r = http.post(f"/v1/generation/{MODEL}/text-to-image", json={
        "text_prompts": texts, "samples": 1, "sampler": "K_EULER", **SMALL})
    if r.status_code == 400:
        body = r.json()
        assert set(body) == {"id", "name", "message"} and body["name"] == "invalid_prompts"
        return "block", [body["message"]]
    assert r.status_code == 200, r.text
    assert len(r.json()["artifacts"]) == 1
    warnings = json.loads(r.headers.get("Prompt-Warnings", "[]"))
    return ("warn" if warnings else "pass"), warnings


@pytest.mark.parametrize("prompt,negative,outcome,rules", PROMPTS,
                         ids=[repr(p[0])[:40] for p in PROMPTS])
def test_every_door_answers_the_same(doors, prompt, negative, outcome, rules):
    ctx, client, http = doors
    snap = Snapshot(ctx)
    before = ctx.store.count()
    answers = {"ui": ui_door(client, prompt, negative),
               "a1111": a1111_door(http, prompt, negative),
               "stability": stability_door(http, prompt, negative)}
    assert answers["ui"] == answers["a1111"] == answers["stability"], answers
    kind, messages = answers["ui"]
    assert kind == outcome
    named = [m for m in messages for rule in rules if f"(rule {rule}" in m]
    assert len(named) == len(messages) == (1 if kind == "block" else len(rules))
    if kind == "block":
        snap.assert_nothing_written()
        events = ctx.policy.recent_events(3)
        assert {e.door for e in events} == {"ui", "a1111", "stability"}
        assert {(e.action, e.rule_id, e.prompt) for e in events} == {("block", rules[0], None)}
    else:
        assert ctx.store.count() == before + 3  # one image per door
