"""Stability REST v1 over real HTTP on loopback: every endpoint and its error cases."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.api.conftest import png_bytes
from webui.api.stability_adapter import SDXL_ENGINE
from webui.metadata.infotext import parse_infotext

ERROR_KEYS = {"id", "name", "message"}


def _engine(ctx) -> str:
    return ctx.manager.checkpoint_names()[0]


def _t2i(**kw):
    body = {"text_prompts": [{"text": "a lighthouse", "weight": 1},
                             {"text": "blurry", "weight": -1}],
            "width": 64, "height": 64, "steps": 2, "seed": 42, "sampler": "K_EULER"}
    body.update(kw)
    return body


def _error(r, status: int, words: str = ""):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_KEYS, body
    assert words.lower() in body["message"].lower(), body
    return body


def test_engines_list(api):
    ctx, client = api
    engines = client.get("/v1/engines/list").json()
    ids = [e["id"] for e in engines]
    assert ids[0] == SDXL_ENGINE and set(ctx.manager.checkpoint_names()) <= set(ids)
    assert all(e["type"] == "PICTURE" and e["name"] for e in engines)


def test_text_to_image_json(api):
    ctx, client = api
    r = client.post(f"/v1/generation/{_engine(ctx)}/text-to-image",
                    json=_t2i(samples=2, style_preset="cinematic"),
                    headers={"Authorization": "Bearer sk-ignored"})
    assert r.status_code == 200, r.text
    arts = r.json()["artifacts"]
    assert [a["seed"] for a in arts] == [42, 43]
    assert all(a["finishReason"] == "SUCCESS" for a in arts)
    img = Image.open(io.BytesIO(base64.b64decode(arts[0]["base64"])))
    assert img.size == (64, 64)
    parsed = parse_infotext(img.info["parameters"])
    assert "a lighthouse" in parsed["prompt"] and "blurry" in parsed["negative_prompt"]
    assert parsed["params"]["Sampler"] == "Euler"
    assert {row.owner for row in ctx.store.recent()} == {"api"}


def test_text_to_image_png_answer(api):
    ctx, client = api
    r = client.post(f"/v1/generation/{_engine(ctx)}/text-to-image", json=_t2i(seed=0),
                    headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["Finish-Reason"] == "SUCCESS"
    seed = int(r.headers["Seed"])
    img = Image.open(io.BytesIO(r.content))
    assert f"Seed: {seed}" in img.info["parameters"]  # seed 0 = random, recorded


def test_sdxl_engine_takes_sdxl_sizes_only(api):
    _, client = api
    body = _error(client.post(f"/v1/generation/{SDXL_ENGINE}/text-to-image",
                              json=_t2i(width=512, height=512)), 400, "1024x1024")
    assert body["name"] == "invalid_sdxl_v222_dimensions"
    r = client.post(f"/v1/generation/{SDXL_ENGINE}/text-to-image",
                    json=_t2i(width=1024, height=1024, steps=1),
                    headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (1024, 1024)


def test_text_to_image_errors(api):
    ctx, client = api
    url = f"/v1/generation/{_engine(ctx)}/text-to-image"
    _error(client.post("/v1/generation/no-such-engine/text-to-image", json=_t2i()), 404,
           "no-such-engine")
    _error(client.post(url, json={"width": 64}), 400, "text_prompts")
    _error(client.post(url, json=["not an object"]), 400)
    _error(client.post(url, content=b"{bad", headers={"content-type": "application/json"}),
           400)
    _error(client.post(url, json=_t2i(text_prompts=[{"text": "only negative",
                                                      "weight": -1}])), 400, "positive")
    _error(client.post(url, json=_t2i(sampler="K_NOPE")), 400, "sampler")
    _error(client.post(url, json=_t2i(samples=11)), 400, "samples")
    _error(client.post(url, json=_t2i(width=100)), 400, "multiple of 8")
    _error(client.post(url, json=_t2i(cfg_scale=99)), 400, "CFG scale")
    _error(client.post(url, json=_t2i(style_preset="nope")), 400, "style_preset")
    _error(client.post(url, json=_t2i(samples=2), headers={"Accept": "image/png"}), 400,
           "samples=1")
    _error(client.get("/v1/no/such/path"), 404)
    big = b'{"text_prompts": [{"text": "' + b"x" * (50 * 1024 * 1024) + b'"}]}'
    _error(client.post(url, content=big, headers={"content-type": "application/json"}), 413)
    assert ctx.store.count() == 0


def _init(size=(64, 64), mode="RGB"):
    return Image.new(mode, size, (30, 120, 200) if mode == "RGB" else (30, 120, 200, 255))


def test_image_to_image_errors(api):
    ctx, client = api
    url = f"/v1/generation/{_engine(ctx)}/image-to-image"
    form = {"text_prompts[0][text]": "a boat", "steps": "2"}
    _error(client.post(url, json={"text_prompts": [{"text": "x"}]}), 400, "multipart")
    _error(client.post(url, data=form), 400, "init_image")
    _error(client.post(url, data=form, files={"init_image": ("x.png", b"not an image")}), 400,
           "not a readable image")
    _error(client.post(url, data={"steps": "2"},
                       files={"init_image": ("x.png", png_bytes(_init()))}), 400,
           "text_prompts")
    _error(client.post(url, data={**form, "image_strength": "2"},
                       files={"init_image": ("x.png", png_bytes(_init()))}), 400,
           "image_strength")
    _error(client.post(f"/v1/generation/{SDXL_ENGINE}/image-to-image", data=form,
                       files={"init_image": ("x.png", png_bytes(_init()))}), 400, "1024x1024")
    murl = f"/v1/generation/{_engine(ctx)}/image-to-image/masking"
    _error(client.post(murl, data={**form, "mask_source": "MASK_IMAGE_WHITE"},
                       files={"init_image": ("x.png", png_bytes(_init())),
                              "mask_image": ("m.png", png_bytes(Image.new("L", (32, 32))))}),
           400, "same size")
    _error(client.post(murl, data={**form, "mask_source": "INIT_IMAGE_ALPHA"},
                       files={"init_image": ("x.png", png_bytes(_init()))}), 400, "alpha")
    _error(client.post(murl, data={**form, "mask_source": "BOGUS"},
                       files={"init_image": ("x.png", png_bytes(_init()))}), 400,
           "mask_source")
    assert ctx.store.count() == 0


def _need(mode: str):
    from webui.engine import RUNNERS

    if mode not in RUNNERS:
        pytest.skip(f"mode {mode!r} is not in webui.engine.RUNNERS yet (issue #4)")


def test_image_to_image(api):
    _need("img2img")
    ctx, client = api
    r = client.post(f"/v1/generation/{_engine(ctx)}/image-to-image",
                    data={"text_prompts[0][text]": "a boat", "text_prompts[1][text]": "fog",
                          "text_prompts[1][weight]": "-0.5", "image_strength": "0.4",
                          "steps": "4", "seed": "9", "cfg_scale": "5"},
                    files={"init_image": ("init.png", png_bytes(_init()), "image/png")})
    assert r.status_code == 200, r.text
    (art,) = r.json()["artifacts"]
    img = Image.open(io.BytesIO(base64.b64decode(art["base64"])))
    parsed = parse_infotext(img.info["parameters"])
    assert art["seed"] == 9 and img.size == (64, 64)
    assert parsed["params"]["Denoising strength"] == "0.6"
    assert "(fog:0.5)" in parsed["negative_prompt"]


@pytest.mark.parametrize("source", ["MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA"])
def test_masking(api, source):
    _need("inpaint")
    ctx, client = api
    init = _init(mode="RGBA")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    if source == "INIT_IMAGE_ALPHA":
        init.putalpha(Image.eval(mask, lambda v: 255 - v))
        files = {"init_image": ("init.png", png_bytes(init))}
    else:
        files = {"init_image": ("init.png", png_bytes(init.convert("RGB"))),
                 "mask_image": ("mask.png", png_bytes(mask))}
    r = client.post(f"/v1/generation/{_engine(ctx)}/image-to-image/masking",
                    data={"text_prompts[0][text]": "a window", "mask_source": source,
                          "steps": "2", "seed": "3"},
                    files=files, headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["Seed"] == "3"
    assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    assert ctx.store.recent()[0].mode == "inpaint"
