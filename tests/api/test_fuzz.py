"""Bounded, deterministic fuzzing of the API bodies: every field of every generation body gets
values of the wrong type and out of range; the answer is always 4xx, never a 5xx or a hang.

Each body keeps an invalid ``batch_size``/``samples`` unless that field is the one fuzzed, so
anything the schema lets through is refused by validation before a job runs.
"""

from __future__ import annotations

from webui.api.a1111_models import Img2ImgRequest, Txt2ImgRequest
from webui.api.stability_adapter import TextToImageBody

WEIRD = [None, "", "abc", -1, 0, 10**30, -(10**30), 1.5, True, [], [1, "x"], {}, {"a": None},
         "data:image/png;base64,AAAA", "\u0000\ud7ff"]


def _fields(model) -> list[str]:
    return list(model.model_fields)


def test_a1111_bodies_never_5xx(api):
    ctx, client = api
    for path, model in (("/sdapi/v1/txt2img", Txt2ImgRequest),
                        ("/sdapi/v1/img2img", Img2ImgRequest)):
        for field in _fields(model):
            if field in ("batch_size", "override_settings_restore_afterwards"):
                continue
            for value in WEIRD:
                body = {"prompt": "x", "width": 64, "height": 64, "steps": 1,
                        "batch_size": 0, field: value}
                r = client.post(path, json=body)
                assert 400 <= r.status_code < 500, (path, field, value, r.text)
    for value in WEIRD:
        assert client.post("/sdapi/v1/png-info", json={"image": value}).status_code < 500
        assert client.post("/sdapi/v1/options", json=value).status_code < 500
    assert ctx.store.count() == 0


def test_stability_bodies_never_5xx(api):
    ctx, client = api
    url = f"/v1/generation/{ctx.manager.checkpoint_names()[0]}/text-to-image"
    for field in _fields(TextToImageBody):
        if field == "samples":
            continue
        for value in WEIRD:
            body = {"text_prompts": [{"text": "x"}], "width": 64, "height": 64, "steps": 1,
                    "samples": 0, field: value}
            r = client.post(url, json=body)
            assert 400 <= r.status_code < 500, (field, value, r.text)
            assert set(r.json()) == {"id", "name", "message"}
    assert ctx.store.count() == 0
