"""X/Y/Z plot through the served app: the A1111 API (``script_name: "x/y/z plot"`` with
``script_args`` in A1111's order) and the txt2img tab's endpoint (the Script accordion's
fields): grid size, labels, each cell's parameters in its infotext, the checkpoint axis
loading each checkpoint once, and refusals naming the field or the axis."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from gradio_client import Client
from PIL import Image

from extensions.xyz_plot.grid import layout
from tests.extensions.test_xyz_grid import dark
from tests.helpers import free_port
from webui.metadata.infotext import parse_infotext


@pytest.fixture
def served(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    settings.api = True
    settings.ckpt_cache = "1"  # switching checkpoints back and forth would read them again
    ctx = create_context(settings)
    assert ctx.extensions.statuses["xyz_plot"].state == "loaded"
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=300) as client:
            yield ctx, client, server.local_url
    finally:
        server.close()


def a1111_args(**kw) -> list:
    """``script_args`` in A1111's order (scripts/xyz_grid.py, 1.7-1.10)."""
    args = dict(x_type=0, x_values="", x_values_dropdown="", y_type=0, y_values="",
                y_values_dropdown="", z_type=0, z_values="", z_values_dropdown="",
                draw_legend=True, include_lone_images=False, include_sub_grids=False,
                no_fixed_seeds=False, vary_seeds_x=False, vary_seeds_y=False,
                vary_seeds_z=False, margin_size=0, csv_mode=False)
    args.update(kw)
    return list(args.values())


def txt2img(client, **kw):
    body = dict(prompt="a photo of a cat", width=64, height=64, steps=2, seed=-1,
                sampler_name="Euler", override_settings={"sd_model_checkpoint": "tiny-sdxl-a"},
                script_name="x/y/z plot")
    body.update(kw)
    return client.post("/sdapi/v1/txt2img", json=body)


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_a1111_api(served):
    ctx, client, _ = served
    scripts = client.get("/sdapi/v1/scripts").json()
    assert "x/y/z plot" in [s.lower() for s in scripts["txt2img"]]
    assert "x/y/z plot" in [s.lower() for s in scripts["img2img"]]
    info = {s["name"]: s for s in client.get("/sdapi/v1/script-info").json()}
    assert len(info["x/y/z plot"]["args"]) == 18

    before_loads, before_rows = ctx.manager.loads_from_disk, ctx.store.count()
    # X: Checkpoint name (txt2img index 11) from the dropdown list, Y: CFG Scale (index 6):
    # A1111's loop would run Y outermost and switch checkpoints at every cell
    r = txt2img(client, script_args=a1111_args(
        x_type=11, x_values_dropdown=["tiny-sdxl-a", "tiny-sdxl-b"], y_type=6,
        y_values="3, 7", margin_size=4))
    assert r.status_code == 200, r.text
    assert ctx.manager.loads_from_disk - before_loads == 2  # each checkpoint read once
    body = r.json()
    grid, *cells = [decode(b) for b in body["images"]]
    assert len(cells) == 4
    geo = layout(2, 2, 64, 64, ["tiny-sdxl-a", "tiny-sdxl-b"], ["CFG Scale: 3", "CFG Scale: 7"],
                 margin=4)
    assert grid.size == (geo.left + 2 * 64 + 4, geo.top + 2 * 64 + 4)
    for i in range(2):
        x0, _, x1, _ = geo.cell_box(i, 0)
        assert dark(grid, (x0, 0, x1, geo.top)) > 20
        _, y0, _, y1 = geo.cell_box(0, i)
        assert dark(grid, (0, y0, geo.left, y1)) > 20
    info = json.loads(body["info"])
    texts = info["infotexts"]
    assert len(texts) == 5
    params = [parse_infotext(t)["params"] for t in texts]
    assert [(p["Model"], p["CFG scale"]) for p in params[1:]] == [
        ("tiny-sdxl-a", "3"), ("tiny-sdxl-b", "3"), ("tiny-sdxl-a", "7"), ("tiny-sdxl-b", "7")]
    seed = params[1]["Seed"]
    assert seed != "-1" and all(p["Seed"] == seed and p["Steps"] == "2" for p in params)
    assert (params[0]["X Type"], params[0]["Y Type"], params[0]["Y Values"]) == (
        "Checkpoint name", "CFG Scale", "3, 7")
    # the saved files carry the same infotexts; every picture is in the history
    assert ctx.store.count() - before_rows == 5
    with Image.open(ctx.store.image_path(ctx.store.recent(5)[-1])) as first_saved:
        assert "X Type: Checkpoint name" in first_saved.info["parameters"]
    # each cell's row holds that cell's values (the Gallery's filters and columns), not the
    # job's request
    rows = ctx.store.recent(5)[::-1][1:]
    assert [(r.model_name, r.cfg_scale) for r in rows] == [
        ("tiny-sdxl-a", 3.0), ("tiny-sdxl-b", 3.0), ("tiny-sdxl-a", 7.0), ("tiny-sdxl-b", 7.0)]


def test_a1111_api_refusals(served):
    ctx, client, _ = served
    before = ctx.store.count()
    r = txt2img(client, script_args=a1111_args(x_type="Not an axis"))
    assert r.status_code == 422 and "x_type" in r.text
    r = txt2img(client, script_args=a1111_args(x_type=9, x_values_dropdown=["Euler", "Nope"]))
    assert r.status_code in (400, 422) and "X axis (Sampler): unknown sampler 'Nope'" in r.text
    r = txt2img(client, script_args=a1111_args(x_type=4, x_values="1-11", y_type=1,
                                               y_values="1-10"))
    assert r.status_code in (400, 422) and "at most 100" in r.text
    assert ctx.store.count() == before


def test_txt2img_tab_endpoint(served):
    ctx, _, url = served
    client = Client(url, verbose=False)
    prefix = "script__x_y_z_plot__"
    gallery, info, _ = client.predict(
        prompt="a photo of a cat", width=64, height=64, steps=1, seed=5, sampler="Euler",
        script="X/Y/Z plot", **{f"{prefix}x_type": "Steps", f"{prefix}x_values": "1-2",
                                f"{prefix}y_type": "Seed", f"{prefix}y_values": "5, 6",
                                f"{prefix}margin_size": 2},
        api_name="/txt2img")
    assert len(gallery) == 5
    images = []
    for item in gallery:
        with Image.open(item["image"]) as img:
            images.append((img.size, parse_infotext(img.info["parameters"])["params"]))
    (size, grid_params), *cells = images
    geo = layout(2, 2, 64, 64, ["Steps: 1", "Steps: 2"], ["Seed: 5", "Seed: 6"], margin=2)
    assert size == (geo.width, geo.height)
    assert grid_params["Script"] == "X/Y/Z plot" and grid_params["X Values"] == "1-2"
    assert (grid_params["Y Type"], grid_params["Fixed Y Values"]) == ("Seed", "5, 6")
    assert [(p["Steps"], p["Seed"]) for _, p in cells] == [("1", "5"), ("2", "5"), ("1", "6"),
                                                          ("2", "6")]
