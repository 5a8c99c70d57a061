"""The ControlNet accordion of the served app, driven through its Gradio endpoints: a unit set
in txt2img reaches the job (its infotext has the ControlNet 0 line), the Preview shows canny
edges of an uploaded square (img2img: of the tab's image when the unit has none), and a
unit naming an unknown model is refused in plain words with nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from tests.helpers import Snapshot, free_port
from webui.history.query import GalleryQuery
from webui.metadata.infotext import parse_infotext


def square(size=64) -> Image.Image:
    img = Image.new("RGB", (size, size), "black")
    ImageDraw.Draw(img).rectangle((16, 16, 47, 47), fill="white")
    return img


@pytest.fixture(scope="module")
def served(control_models_dir, tmp_path_factory):
    """(ctx, gradio Client, folder with square.png) of the app (UI) on the tiny ControlNets."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.server.uvicorn_server import serve

    work = tmp_path_factory.mktemp("cn-ui")
    ctx = create_context(Settings(models_dir=control_models_dir, outputs_dir=work / "outputs",
                                  data_dir=work / "data", device="cpu"))
    square().save(work / "square.png")
    server = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, Client(server.local_url, verbose=False), work
    finally:
        server.close()


def edges_ok(path) -> np.ndarray:
    edges = np.asarray(Image.open(path).convert("L"))
    assert edges.shape == (64, 64)
    assert edges[16, 16:48].max() == 255 and edges[47, 16:48].max() == 255  # the outline
    assert edges[32, 32] == 0 and edges[2, 2] == 0  # not its inside, not the background
    return edges


def test_endpoints_take_the_unit_keywords(served):
    _, client, _ = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint in ("/txt2img", "/img2img", "/inpaint"):
        names = [p["parameter_name"] for p in api[endpoint]["parameters"]]
        for i in range(3):
            assert {f"controlnet__{i}__model", f"controlnet__{i}__enabled",
                    f"controlnet__{i}__image", f"controlnet__{i}__weight"} <= set(names)
    assert not any(n.startswith("controlnet__") for p in api["/outpaint"]["parameters"]
                   for n in [p["parameter_name"]])


def test_a_unit_set_in_txt2img_reaches_the_job(served):
    ctx, client, folder = served
    title = {m.name: m.title for m in ctx.manager.control_models()}["tiny-controlnet"]
    gallery, info, _ = client.predict(
        prompt="a square", width=64, height=64, steps=1, seed=9, model="tiny-sdxl-a",
        controlnet__0__enabled=True, controlnet__0__image=handle_file(str(folder /
                                                                           "square.png")),
        controlnet__0__module="canny", controlnet__0__model=title,
        controlnet__0__weight=0.7, controlnet__0__guidance_end=0.8,
        controlnet__0__control_mode="My prompt is more important",
        controlnet__0__processor_res=64, api_name="/txt2img")
    assert len(gallery) == 1
    params = parse_infotext(info)["params"]
    line = params["ControlNet 0"]
    assert line.startswith(f"Module: canny, Model: {title}, Weight: 0.7")
    assert "Guidance End: 0.8" in line and "Control Mode: My prompt is more important" in line
    assert "ControlNet 1" not in params  # units left disabled are not sent


def test_preview_shows_canny_edges_of_an_uploaded_square(served):
    _, client, folder = served
    shown = client.predict(handle_file(str(folder / "square.png")), "canny", 64, -1, -1,
                           api_name="/txt2img_controlnet_0_preview")
    edges_ok(shown)


def test_img2img_preview_uses_the_tab_image_when_the_unit_has_none(served):
    _, client, folder = served
    shown = client.predict(None, "canny", 64, -1, -1, handle_file(str(folder / "square.png")),
                           api_name="/img2img_controlnet_1_preview")
    edges_ok(shown)


def test_preview_without_a_picture_says_so(served):
    _, client, _ = served
    with pytest.raises(AppError, match="Preview needs a picture"):
        client.predict(None, "canny", 64, -1, -1, api_name="/txt2img_controlnet_0_preview")


def test_unknown_model_is_refused_in_plain_words(served):
    ctx, client, folder = served
    before = Snapshot(ctx)
    with pytest.raises(AppError, match=r"ControlNet unit 0: .*tiny-controlnet \["):
        client.predict(prompt="x", width=64, height=64, steps=1, model="tiny-sdxl-a",
                       controlnet__0__enabled=True, controlnet__0__module="canny",
                       controlnet__0__image=handle_file(str(folder / "square.png")),
                       controlnet__0__model="no-such-controlnet", api_name="/txt2img")
    before.assert_nothing_written()


def test_a_unit_picture_can_come_from_the_gallery(served):
    """A picture made here, picked by its Gallery id, becomes the unit's control image (the
    same pixels as the saved file); an id that is not there is refused in plain words."""
    ctx, client, folder = served
    client.predict(prompt="a picture to reuse", width=64, height=64, steps=1, seed=3,
                   model="tiny-sdxl-a", api_name="/txt2img")
    row = ctx.store.search(GalleryQuery(per_page=1), owner="local", is_admin=True,
                           with_total=False).rows[0]
    assert row.prompt == "a picture to reuse"
    path = client.predict(f"#{row.id} a picture to reuse",
                          api_name="/txt2img_controlnet_1_from_gallery")
    got = np.asarray(Image.open(path).convert("RGB"))
    saved = np.asarray(Image.open(ctx.store.image_path(row)).convert("RGB"))
    assert got.shape == saved.shape and (got == saved).all()
    with pytest.raises(AppError, match="Gallery image 999999 is gone or not yours"):
        client.predict("999999", api_name="/txt2img_controlnet_1_from_gallery")
