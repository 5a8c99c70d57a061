"""Inpaint in the browser: upload an image, paint a mask with the mouse, generate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import RunningApp, set_number


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("inpaint-app"))
    yield running
    running.stop()



def test_draw_a_mask_and_inpaint(app, pages, tmp_path):
    source = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (30, 160, 40)).save(source)
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="inpaint").click()
    page.locator("#inpaint_prompt textarea").fill("a red flower")
    page.locator("#inpaint_editor input[type=file]").first.set_input_files(str(source))
    canvas = page.locator("#inpaint_editor canvas").first
    canvas.wait_for(timeout=30_000)
    # the picture is in the editor (on a busy machine the upload takes a while): only then
    # does a stroke paint on it
    page.locator("#inpaint_editor").get_by_text("Upload an image").wait_for(
        state="hidden", timeout=60_000)
    page.wait_for_timeout(1000)
    box = canvas.bounding_box()
    # a stroke across the middle of the picture
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - box["width"] / 6, cy)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(cx - box["width"] / 6 + k * box["width"] / 30, cy, steps=2)
    page.mouse.up()
    set_number(page, "inpaint_width", 64)
    set_number(page, "inpaint_height", 64)
    set_number(page, "inpaint_steps", 3)
    set_number(page, "inpaint_mask_blur", 0)  # a sharp mask edge: outside stays exact
    page.locator("#inpaint_generate").click()
    page.wait_for_function(
        "() => document.querySelector('#inpaint_info textarea').value.includes('Seed:')",
        timeout=120_000)
    info = page.locator("#inpaint_info textarea").input_value()
    assert info.startswith("a red flower") and "Masked content: original" in info
    (saved,) = list(app.outputs.rglob("inpaint-images/*/*.png"))
    with Image.open(saved) as out:
        pixels = np.asarray(out.convert("RGB"), dtype=np.int16)
    # the painted stroke changed the middle; the top rows, outside the brush, kept the photo
    green = np.array([30, 160, 40])
    assert np.abs(pixels[0, :] - green).max() <= 2
    assert np.abs(pixels[32, 28] - green).max() > 10
