"""A1111 payloads with sd-webui-controlnet units generate through the real HTTP API on the
tiny ControlNet: the unit is in ``info`` and the infotext, its control map comes back after
the pictures, weight 0 is the same picture as no unit, the old field names and numeric modes
are understood, and img2img's unit without a picture uses the init image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.controlnet.test_api_routes import api, b64, square, unb64  # noqa: F401 - fixture


def body(*units, key="controlnet", **extra) -> dict:
    out = {"prompt": "a square", "width": 64, "height": 64, "steps": 2, "seed": 5,
           "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "tiny-sdxl-a"}}
    if units:
        out["alwayson_scripts"] = {key: {"args": list(units)}}
    out.update(extra)
    return out


def canny_unit(**kw) -> dict:
    out = {"enabled": True, "module": "canny", "model": "tiny-controlnet",
           "image": b64(square(), data_url=True), "processor_res": 64}
    out.update(kw)
    return out


def pixels(text: str) -> np.ndarray:
    return np.asarray(unb64(text).convert("RGB"), dtype=np.int16)


def post(http, path: str, payload: dict) -> dict:
    r = http.post(path, json=payload)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def plain(api):  # noqa: F811
    """The picture of the same job without a unit."""
    _, http = api
    return post(http, "/sdapi/v1/txt2img", body())["images"][0]


def test_canny_unit_answers_its_unit_and_map(api, plain):  # noqa: F811
    ctx, http = api
    title = {m.name: m.title for m in ctx.manager.control_models()}["tiny-controlnet"]
    answer = post(http, "/sdapi/v1/txt2img", body(canny_unit()))
    info = json.loads(answer["info"])
    line = info["extra_generation_params"]["ControlNet 0"]
    assert line.startswith(f"Module: canny, Model: {title}, Weight: 1.0")
    assert "Guidance End: 1.0" in line and "Control Mode: Balanced" in line
    assert f'ControlNet 0: "Module: canny, Model: {title}' in info["infotexts"][0]
    assert len(answer["images"]) == 2  # the picture, then the detected map
    edges = pixels(answer["images"][1])[..., 0]
    assert edges.shape == (64, 64) and edges[16, 16:48].max() == 255 and edges[32, 32] == 0
    assert not np.array_equal(pixels(answer["images"][0]), pixels(plain))  # it steers
    # the parameters are echoed as sent
    assert answer["parameters"]["alwayson_scripts"]["controlnet"]["args"][0]["module"] == \
        "canny"


def test_weight_zero_is_the_picture_without_a_unit(api, plain):  # noqa: F811
    _, http = api
    answer = post(http, "/sdapi/v1/txt2img",
                  body(canny_unit(weight=0, save_detected_map=False)))
    assert len(answer["images"]) == 1  # no map asked for
    assert np.array_equal(pixels(answer["images"][0]), pixels(plain))


def test_legacy_names_numeric_modes_and_any_case_key(api):  # noqa: F811
    _, http = api
    old = canny_unit(guidance=0.5, control_mode=2, resize_mode=0, weight=0.8,
                     model=None, low_vram=True)
    old["input_image"] = old.pop("image")
    old["model"] = {m.name: m.title for m in api[0].manager.control_models()}[
        "tiny-controlnet"]  # as the extension names it: "name [hash]"
    answer = post(http, "/sdapi/v1/txt2img", body(old, {"enabled": False}, key="ControlNet"))
    line = json.loads(answer["info"])["extra_generation_params"]["ControlNet 0"]
    assert "Weight: 0.8" in line and "Guidance End: 0.5" in line
    assert "Control Mode: ControlNet is more important" in line
    assert "Resize Mode: Just Resize" in line
    assert "ControlNet 1" not in json.loads(answer["info"])["extra_generation_params"]


def test_img2img_unit_without_picture_uses_the_init_image(api):  # noqa: F811
    _, http = api
    payload = body({"enabled": True, "module": "none", "model": "tiny-controlnet-union",
                    "resize_mode": "Crop and Resize"},
                   init_images=[b64(square())], denoising_strength=0.6)
    answer = post(http, "/sdapi/v1/img2img", payload)
    info = json.loads(answer["info"])
    assert info["extra_generation_params"]["ControlNet 0"].startswith(
        "Module: none, Model: tiny-controlnet-union [")
    assert len(answer["images"]) == 2
    assert np.array_equal(pixels(answer["images"][1]), np.asarray(square(), dtype=np.int16))


def test_ip_adapter_unit_through_the_api(api, plain):  # noqa: F811
    _, http = api
    answer = post(http, "/sdapi/v1/txt2img", body({
        "enabled": True, "module": "ip-adapter-auto", "model": "tiny-ip-adapter",
        "image": b64(square()), "weight": 1.0}))
    line = json.loads(answer["info"])["extra_generation_params"]["ControlNet 0"]
    assert line.startswith("Module: ip-adapter-auto, Model: tiny-ip-adapter [")
    assert len(answer["images"]) == 2  # the picture, then the unit's reference picture
    assert not np.array_equal(pixels(answer["images"][0]), pixels(plain))
