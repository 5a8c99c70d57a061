"""sd-webui-controlnet's API on a real server on loopback: the ``/controlnet/*`` routes answer
as the extension's do, and malformed units in ``/sdapi/v1/txt2img``/``img2img`` answer 4xx
naming the problem (never 5xx), with nothing run or written."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import Snapshot, free_port


def b64(img: Image.Image, data_url: bool = False) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    text = base64.b64encode(buf.getvalue()).decode()
    return f"data:image/png;base64,{text}" if data_url else text


def unb64(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def square(size=64) -> Image.Image:
    img = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(img).rectangle((size // 4, size // 4, 3 * size // 4 - 1, 3 * size // 4 - 1),
                                  fill="white")
    return img


@pytest.fixture(scope="module")
def api(control_models_dir, tmp_path_factory):
    """(ctx, httpx client) of one served app (API only) on the tiny ControlNet models."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("cn-api")
    ctx = create_context(Settings(models_dir=control_models_dir, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu", api=True,
                                  nowebui=True))
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            yield ctx, client
    finally:
        server.close()


def titles(ctx) -> dict[str, str]:
    return {m.name: m.title for m in ctx.manager.control_models()}


def test_version_settings_and_model_list(api):
    ctx, http = api
    assert http.get("/controlnet/version").json() == {"version": 3}
    assert http.get("/controlnet/settings").json() == {"control_net_unit_count": 3}
    listed = http.get("/controlnet/model_list").json()["model_list"]
    names = titles(ctx)
    assert {"tiny-controlnet", "tiny-controlnet-union", "tiny-ip-adapter"} <= set(names)
    assert listed == list(names.values())
    assert all(t.endswith("]") and " [" in t for t in listed)  # "name [hash]"
    assert not any("sd15" in t for t in listed)  # refused models are not offered
    assert http.get("/controlnet/model_list", params={"update": "true"}).json() == {
        "model_list": listed}


def test_module_list_and_control_types(api):
    ctx, http = api
    body = http.get("/controlnet/module_list").json()
    assert body["module_list"][:2] == ["none", "canny"]
    assert "ip-adapter-auto" in body["module_list"] and "depth" not in body["module_list"]
    canny = body["module_detail"]["canny"]
    assert canny["model_free"] is False
    assert [s["name"] for s in canny["sliders"]] == ["Resolution", "Low Threshold",
                                                     "High Threshold"]
    assert canny["sliders"][1]["value"] == 100 and canny["sliders"][2]["value"] == 200
    assert http.get("/controlnet/module_list", params={"alias_names": "true"}).json() == body
    types = http.get("/controlnet/control_types").json()["control_types"]
    assert list(types) == ["All", "Canny", "Depth", "IP-Adapter"]
    names = titles(ctx)
    assert types["All"]["model_list"] == ["None", *names.values()]
    assert types["Canny"]["module_list"] == ["canny"]
    assert types["Canny"]["default_option"] == "canny"
    # the union model does every type; an IP-Adapter only its own
    assert names["tiny-controlnet-union"] in types["Canny"]["model_list"]
    assert names["tiny-controlnet-union"] in types["Depth"]["model_list"]
    assert names["tiny-ip-adapter"] not in types["Canny"]["model_list"]
    assert types["IP-Adapter"]["model_list"] == ["None", names["tiny-ip-adapter"]]
    assert types["IP-Adapter"]["default_model"] == names["tiny-ip-adapter"]
    for entry in types.values():
        assert set(entry) == {"module_list", "model_list", "default_option", "default_model"}


def test_detect_draws_canny_edges_of_a_square(api):
    _, http = api
    r = http.post("/controlnet/detect", json={
        "controlnet_module": "canny", "controlnet_input_images": [b64(square(), True),
                                                                  b64(square(32))],
        "controlnet_processor_res": 64, "controlnet_threshold_a": 100,
        "controlnet_threshold_b": 200, "low_vram": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["info"] == "Success" and len(body["images"]) == 2
    first = np.asarray(unb64(body["images"][0]).convert("L"))
    assert first.shape == (64, 64)
    assert first[16, 16:48].max() == 255 and first[32, 32] == 0 and first[2, 2] == 0
    assert unb64(body["images"][1]).size == (64, 64)  # short side at the resolution


@pytest.mark.parametrize("body, status, words", [
    ({"controlnet_module": "openpose", "controlnet_input_images": ["x"]}, 422,
     "unknown preprocessor 'openpose'; choose one of: none, canny"),
    ({"controlnet_module": "ip-adapter_clip_h", "controlnet_input_images": ["x"]}, 422,
     "not supported by detect"),
    ({"controlnet_module": "canny", "controlnet_input_images": []}, 422,
     "controlnet_input_images is empty"),
    ({"controlnet_module": "canny", "controlnet_input_images": ["%%%"]}, 400,
     "controlnet_input_images[0] is not valid base64"),
    ({"controlnet_module": "canny", "controlnet_input_images": ["x"],
      "controlnet_processor_res": 5}, 422, "controlnet_processor_res must be between"),
])
def test_detect_refusals_name_the_problem(api, body, status, words):
    _, http = api
    r = http.post("/controlnet/detect", json=body)
    assert r.status_code == status, r.text
    assert words in r.text


def test_detect_with_huge_thresholds_finds_no_edges_rather_than_fail(api):
    _, http = api
    r = http.post("/controlnet/detect", json={
        "controlnet_module": "canny", "controlnet_input_images": [b64(square())],
        "controlnet_threshold_a": 1e300, "controlnet_threshold_b": 1e308})
    assert r.status_code == 200, r.text
    assert np.asarray(unb64(r.json()["images"][0])).max() == 0


def test_detect_body_of_the_wrong_shape_is_422(api):
    _, http = api
    r = http.post("/controlnet/detect", json={"controlnet_input_images": "not a list"})
    assert r.status_code == 422 and "controlnet_input_images" in r.text


def txt2img(model: str, *units, **extra) -> dict:
    return {"prompt": "a square", "width": 64, "height": 64, "steps": 1, "seed": 3,
            "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "tiny-sdxl-a"},
            "alwayson_scripts": {"controlnet": {"args": list(units)}}, **extra}


def unit(**kw) -> dict:
    base = {"enabled": True, "module": "canny", "model": "tiny-controlnet",
            "image": b64(square())}
    base.update(kw)
    return base


@pytest.mark.parametrize("args, words", [
    ("canny", "alwayson_scripts.controlnet.args must be a list"),
    ([unit(image="%%%not base64")], "alwayson_scripts.controlnet.args[0].image is not valid "
                                    "base64"),
    ([unit(model="no-such-model [0123456789]")], "tiny-controlnet ["),
    ([unit(module="openpose")], "unknown preprocessor 'openpose'; choose one of: none, canny"),
    ([unit(module="ip-adapter_clip_h")], "is for IP-Adapter models"),
    ([unit(weight="abc")], "weight must be a number, got 'abc'"),
    ([unit(guidance_start=0.9, guidance_end=0.1)], "guidance start (0.9) is after guidance "
                                                   "end (0.1)"),
    ([unit()] * 4, "at most 3 ControlNet units per job, got 4"),
    ([unit(image=None)], "needs an image (txt2img has no init image"),
    ([unit(control_mode=9)], "unknown control mode 9"),
    ([unit(model="None")], "model must name a ControlNet or IP-Adapter model"),
])
def test_malformed_units_answer_4xx_naming_the_problem(api, args, words):
    ctx, http = api
    body = txt2img("tiny-controlnet")
    body["alwayson_scripts"]["controlnet"]["args"] = args
    before = Snapshot(ctx)
    r = http.post("/sdapi/v1/txt2img", json=body)
    assert r.status_code in (400, 422), r.text
    assert words in r.json()["detail"], r.json()
    before.assert_nothing_written()


def test_unknown_model_names_every_choice(api):
    ctx, http = api
    r = http.post("/sdapi/v1/txt2img", json=txt2img("x", unit(model="nope")))
    assert r.status_code == 400
    for title in titles(ctx).values():
        assert title in r.json()["detail"]


def test_img2img_units_are_checked_too(api):
    ctx, http = api
    body = txt2img("x", unit(module="nope", image=None))
    body["init_images"] = [b64(square())]
    r = http.post("/sdapi/v1/img2img", json=body)
    assert r.status_code == 400 and "unknown preprocessor 'nope'" in r.json()["detail"]


def test_controlnet_routes_ask_for_credentials_like_the_others(control_models_dir, tmp_path):
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    key = "cn-robot-key-123456"
    ctx = create_context(Settings(models_dir=control_models_dir, outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d", device="cpu", api=True,
                                  nowebui=True, api_keys=key))
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=60) as http:
            for path in ("/controlnet/version", "/controlnet/model_list"):
                assert http.get(path).status_code == 401
            assert http.post("/controlnet/detect", json={}).status_code == 401
            ok = http.get("/controlnet/version", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200 and ok.json() == {"version": 3}
    finally:
        server.close()


def test_detect_costs_a_demo_visitor_a_job_token(control_models_dir, tmp_path):
    """In a hosted demo, detect is rate limited like a generation: 429 once the tokens are
    spent."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    ctx = create_context(Settings(models_dir=control_models_dir, outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d", device="cpu", api=True,
                                  nowebui=True, demo=True, demo_rate=1))
    server = serve(ctx, block=False, port=free_port())
    payload = {"controlnet_module": "canny", "controlnet_input_images": [b64(square())]}
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=60) as http:
            codes = [http.post("/controlnet/detect", json=payload).status_code
                     for _ in range(3)]
    finally:
        server.close()
    assert codes[0] == 200 and 429 in codes, codes
