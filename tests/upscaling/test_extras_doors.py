"""Extras through every door of a served app: the Extras tab's Gradio endpoint ``/extras``
and A1111's ``/sdapi/v1/extra-single-image`` and ``extra-batch-images`` over real HTTP, with
the tiny random ESRGAN in ``models/ESRGAN``."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.api.conftest import png_b64
from tests.helpers import Snapshot, free_port
from tests.upscaling.helpers import TINY, pixels, sample_picture, save_malicious


@pytest.fixture(scope="module")
def app(esrgan_models, tmp_path_factory):
    """(ctx, gradio Client, httpx client, folder for files): UI and API served at once."""
    import httpx

    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("extras-app")
    ctx = create_context(Settings(models_dir=esrgan_models, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu", api=True))
    server = serve(ctx, block=False, port=free_port())
    files = work / "files"
    files.mkdir()
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as http:
            yield ctx, Client(server.local_url, verbose=False), http, files
    finally:
        server.close()


def _decode(data: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(data)))
    img.load()
    return img


def _extras_files(ctx) -> list:
    folder = ctx.settings.outputs_dir / "extras-images"
    return sorted(folder.rglob("*.png")) if folder.exists() else []


# -- the lists ------------------------------------------------------------------------------

def test_upscalers_and_realesrgan_models_list_the_model(app):
    ctx, _, http, _ = app
    items = http.get("/sdapi/v1/upscalers").json()
    assert [i["name"] for i in items] == ["None", "Lanczos", "Nearest", TINY]
    model = items[-1]
    assert model["model_name"] == TINY and model["model_path"].endswith(f"ESRGAN/{TINY}.pth")
    assert model["scale"] == 4
    assert http.get("/sdapi/v1/realesrgan-models").json() == [
        {"name": TINY, "path": model["model_path"], "scale": 4}]


# -- A1111's routes ---------------------------------------------------------------------------

def test_single_image_4x_with_esrgan(app):
    ctx, _, http, _ = app
    before = len(_extras_files(ctx))
    picture = sample_picture(48, 40)
    r = http.post("/sdapi/v1/extra-single-image", json={
        "image": png_b64(picture), "upscaler_1": TINY, "upscaling_resize": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["html_info"] == (f"<p>Postprocess upscale by: 4, Postprocess upscaler: "
                                 f"{TINY}</p>")
    out = _decode(body["image"])
    assert out.size == (192, 160)
    assert out.info["postprocessing"] == f"Postprocess upscale by: 4, Postprocess upscaler: {TINY}"
    lanczos = _decode(http.post("/sdapi/v1/extra-single-image", json={
        "image": png_b64(picture), "upscaler_1": "Lanczos", "upscaling_resize": 4}
    ).json()["image"])
    assert np.abs(pixels(out) - pixels(lanczos)).mean() > 10  # the model, not a resize
    saved = _extras_files(ctx)
    assert len(saved) == before + 2
    with Image.open(saved[-2]) as img:  # the file is the answer
        assert img.size == (192, 160) and img.info["extras"] == out.info["postprocessing"]


def test_batch_scale_to_with_crop_and_upscaler_2(app):
    ctx, _, http, _ = app
    r = http.post("/sdapi/v1/extra-batch-images", json={
        "imageList": [{"data": png_b64(sample_picture(48, 40)), "name": "first.png"},
                      {"data": "data:image/png;base64," + png_b64(sample_picture(30, 30)),
                       "name": "../../second.png"}],
        "resize_mode": 1, "upscaling_resize_w": 100, "upscaling_resize_h": 80,
        "upscaling_crop": True, "upscaler_1": TINY.upper(), "upscaler_2": "Lanczos",
        "extras_upscaler_2_visibility": 0.5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [_decode(i).size for i in body["images"]] == [(100, 80), (100, 80)]
    assert body["html_info"] == (
        f"<p>Postprocess upscale to: 100x80, Postprocess crop to: 100x80, Postprocess "
        f"upscaler: {TINY}, Postprocess upscaler 2: Lanczos</p>")
    names = [p.name for p in _extras_files(ctx)[-2:]]
    assert names[0].endswith("-first.png") and names[1].endswith("-second.png")
    assert all(p.parent.parent == ctx.settings.outputs_dir / "extras-images"
               for p in _extras_files(ctx))


def test_a1111_own_test_extras_payloads_answer_200(app):
    """The three requests of AUTOMATIC1111's test/test_extras.py, as it sends them."""
    _, _, http, _ = app
    image = "data:image/png;base64," + png_b64(sample_picture(64, 64))
    simple = {"resize_mode": 0, "show_extras_results": True, "gfpgan_visibility": 0,
              "codeformer_visibility": 0, "codeformer_weight": 0, "upscaling_resize": 2,
              "upscaling_resize_w": 128, "upscaling_resize_h": 128, "upscaling_crop": True,
              "upscaler_1": "Lanczos", "upscaler_2": "None",
              "extras_upscaler_2_visibility": 0, "image": image}
    r = http.post("/sdapi/v1/extra-single-image", json=simple)
    assert r.status_code == 200 and _decode(r.json()["image"]).size == (128, 128)
    r = http.post("/sdapi/v1/extra-single-image", json={"image": image})  # "png info"
    assert r.status_code == 200 and _decode(r.json()["image"]).size == (64, 64)
    assert r.json()["html_info"] == "<p></p>"  # upscaler_1 "None": nothing done
    r = http.post("/sdapi/v1/extra-single-image", json={"image": image, "model": "clip"})
    assert r.status_code == 200


@pytest.mark.parametrize("path, body, status, message", [
    ("extra-single-image", {"upscaler_1": "R-ESRGAN 4x+"}, 400,
     f"upscaler_1: unknown upscaler 'R-ESRGAN 4x+'; choose one of: None, Lanczos, Nearest, "
     f"{TINY}"),
    ("extra-single-image", {"upscaler_1": "Lanczos", "upscaler_2": "nope",
                            "extras_upscaler_2_visibility": 0.5}, 400,
     "upscaler_2: unknown upscaler 'nope'"),
    ("extra-single-image", {"image": "not base64!", "upscaler_1": TINY}, 400,
     "image is not valid base64"),
    ("extra-single-image", {"image": "", "upscaler_1": TINY}, 400, "image is empty"),
    ("extra-single-image", {"upscaler_1": TINY, "upscaling_resize": 8,
                            "image": "big"}, 400, "above the limit of 8192 pixels a side"),
    ("extra-single-image", {"upscaler_1": TINY, "resize_mode": 3}, 422, "resize_mode"),
    ("extra-single-image", {"upscaler_1": TINY, "upscaling_resize": 0}, 422,
     "upscaling_resize"),
    ("extra-single-image", {"upscaler_1": TINY, "extras_upscaler_2_visibility": 2}, 422,
     "extras_upscaler_2_visibility"),
    ("extra-batch-images", {"imageList": [], "upscaler_1": TINY}, 400, "imageList is empty"),
    ("extra-batch-images", {"imageList": [{"data": "aGVsbG8=", "name": "x.png"}],
                            "upscaler_1": TINY}, 400,
     r"imageList[0] (x.png) is not a readable image"),
    ("extra-batch-images", {"upscaler_1": TINY}, 422, "imageList"),
])
def test_bad_api_requests_are_4xx_and_write_nothing(app, path, body, status, message):
    ctx, _, http, _ = app
    body = dict(body)
    if body.get("image") == "big":
        body["image"] = png_b64(Image.new("RGB", (1100, 8)))
    body.setdefault("image", png_b64(sample_picture()))
    before = Snapshot(ctx)
    r = http.post(f"/sdapi/v1/{path}", json=body)
    assert r.status_code == status, r.text
    assert message in r.text
    before.assert_nothing_written()


def test_pickle_with_code_is_refused_over_http(app):
    ctx, _, http, files = app
    marker = files / "pwned"
    evil = save_malicious(ctx.settings.models_dir / "ESRGAN" / "4x-Evil.pth", marker)
    try:
        before = Snapshot(ctx)
        r = http.post("/sdapi/v1/extra-single-image", json={
            "image": png_b64(sample_picture()), "upscaler_1": "4x-Evil"})
        assert r.status_code == 400
        assert "4x-Evil.pth was refused" in r.text and "weights_only=True" in r.text
        before.assert_nothing_written()
        assert not marker.exists()
    finally:
        evil.unlink()


def test_a1111_txt2img_hires_fix_with_the_model(app):
    """``hr_upscaler`` takes the model's name over the A1111 API too."""
    ctx, _, http, _ = app
    r = http.post("/sdapi/v1/txt2img", json={
        "prompt": "a hill", "width": 64, "height": 64, "steps": 2, "seed": 3,
        "enable_hr": True, "hr_scale": 2, "hr_upscaler": TINY, "hr_second_pass_steps": 1,
        "denoising_strength": 0.3})
    assert r.status_code == 200, r.text
    image = _decode(r.json()["images"][0])
    assert image.size == (128, 128) and f"Hires upscaler: {TINY}" in image.info["parameters"]
    r = http.post("/sdapi/v1/txt2img", json={
        "prompt": "a hill", "width": 64, "height": 64, "steps": 2, "enable_hr": True,
        "hr_upscaler": "R-ESRGAN 4x+"})
    assert r.status_code == 400 and "unknown hires upscaler 'R-ESRGAN 4x+'" in r.text


# -- the Extras tab's endpoint ----------------------------------------------------------------

def test_extras_tab_endpoint_upscales_4x(app):
    ctx, client, _, files = app
    path = files / "tab.png"
    sample_picture(40, 32).save(path)
    gallery, info = client.predict(image=handle_file(str(path)), upscaler_1=TINY, scale=4,
                                   api_name="/extras")
    assert len(gallery) == 1
    with Image.open(gallery[0]["image"]) as img:
        assert img.size == (160, 128)
        assert img.info["postprocessing"] == (f"Postprocess upscale by: 4, Postprocess "
                                              f"upscaler: {TINY}")
    assert gallery[0]["caption"] == img.info["postprocessing"]
    assert f"Postprocess upscaler: {TINY}" in info


def test_extras_tab_batch_and_folder(app):
    ctx, client, _, files = app
    folder = files / "pictures"
    folder.mkdir()
    for i, size in enumerate([(40, 32), (24, 24)]):
        sample_picture(*size).save(folder / f"p{i}.png")
    (folder / "readme.txt").write_text("not a picture")
    paths = [handle_file(str(p)) for p in sorted(folder.glob("*.png"))]
    gallery, _ = client.predict(source="Batch", files=paths, upscaler_1=TINY,
                                resize_mode="Scale to", width=64, height=64, crop=True,
                                tile=16, overlap=4, api_name="/extras")
    assert [Image.open(g["image"]).size for g in gallery] == [(64, 64), (64, 64)]
    gallery, _ = client.predict(source="From folder", folder=str(folder),
                                upscaler_1="Nearest", scale=2, api_name="/extras")
    assert [Image.open(g["image"]).size for g in gallery] == [(80, 64), (48, 48)]


@pytest.mark.parametrize("kw, message", [
    (dict(upscaler_1="4x-Nothing"), "upscaler_1: unknown upscaler '4x-Nothing'"),
    (dict(image=None), "no image: drop a picture into Single image"),
    (dict(source="From folder", folder="/no/such/folder"), "folder /no/such/folder is not there"),
    (dict(source="Batch"), "no files: drop pictures into Batch"),
    (dict(scale=8, upscaler_1=TINY, big=True), "above the limit of 8192 pixels a side"),
])
def test_extras_tab_bad_input_is_a_clear_error_and_writes_nothing(app, kw, message):
    ctx, client, _, files = app
    kw = dict(kw)
    path = files / "bad.png"
    (Image.new("RGB", (1100, 8)) if kw.pop("big", False) else sample_picture()).save(path)
    kw.setdefault("image", handle_file(str(path)))
    before = Snapshot(ctx)
    with pytest.raises(AppError, match=message.replace("(", r"\(")):
        client.predict(api_name="/extras", **kw)
    before.assert_nothing_written()
