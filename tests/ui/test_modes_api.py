"""/img2img, /inpaint, /outpaint and Hires fix through gradio_client, on the served app."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.engine.modes_helpers import box_mask, noise_image, pixels
from tests.helpers import free_port
from webui.metadata.infotext import parse_infotext
from webui.server.uvicorn_server import serve


@pytest.fixture
def served(ctx):
    demo = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@pytest.fixture
def files(tmp_path):
    image, mask = noise_image(seed=11), box_mask((64, 64), (20, 20, 44, 44))
    image.save(tmp_path / "image.png")
    mask.save(tmp_path / "mask.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "image.png").read_bytes()[:300])
    return tmp_path, image, mask


def params_of(path) -> dict:
    with Image.open(path) as img:
        return parse_infotext(img.info["parameters"])["params"]


def test_endpoints_take_the_documented_keywords(served):
    _, client = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = {ep: [p["parameter_name"] for p in api[ep]["parameters"]]
             for ep in ("/img2img", "/inpaint", "/outpaint", "/txt2img")}
    assert {"image", "denoising_strength", "resize_mode", "prompt", "width", "seed",
            "sampler", "batch_size"} <= set(names["/img2img"])
    assert {"image", "mask", "mask_blur", "inpaint_area", "masked_content",
            "invert_mask"} <= set(names["/inpaint"])
    assert {"image", "left", "right", "up", "down", "steps", "seed"} <= set(names["/outpaint"])
    assert {"enable_hr", "hr_scale", "hr_upscaler", "hr_steps", "hr_denoising_strength",
            "styles"} <= set(names["/txt2img"])


def test_img2img_endpoint(served, files):
    ctx, client = served
    folder, _, _ = files
    gallery, info, seed = client.predict(
        prompt="a red house", image=handle_file(str(folder / "image.png")), width=64,
        height=64, steps=2, seed=5, denoising_strength=0.6, resize_mode="Crop and resize",
        api_name="/img2img")
    assert seed == 5 and len(gallery) == 1
    params = params_of(gallery[0]["image"])
    assert params["Denoising strength"] == "0.6" and params["Resize mode"] == "Crop and resize"
    (row,) = ctx.store.recent()
    assert row.mode == "img2img"


def test_inpaint_endpoint_keeps_pixels_outside_mask(served, files):
    ctx, client = served
    folder, image, mask = files
    gallery, _, _ = client.predict(
        prompt="a cat", image=handle_file(str(folder / "image.png")),
        mask=handle_file(str(folder / "mask.png")), width=64, height=64, steps=2, seed=3,
        mask_blur=2, masked_content="fill", api_name="/inpaint")
    with Image.open(gallery[0]["image"]) as out:
        diff = np.abs(pixels(out) - pixels(image)).max(axis=-1)
    from webui.imaging import blur_mask
    outside = np.asarray(blur_mask(mask, 2)) == 0
    assert diff[outside].max() == 0 and diff[np.asarray(mask) == 255].mean() > 5
    assert params_of(gallery[0]["image"])["Masked content"] == "fill"


def test_outpaint_endpoint(served, files):
    ctx, client = served
    folder, image, _ = files
    gallery, _, _ = client.predict(prompt="a landscape",
                                   image=handle_file(str(folder / "image.png")), right=32,
                                   down=8, steps=2, seed=1, api_name="/outpaint")
    with Image.open(gallery[0]["image"]) as out:
        assert out.size == (96, 72)
        assert np.array_equal(pixels(out)[:56, :56], pixels(image)[:56, :56])


def test_txt2img_hires_and_styles(served):
    ctx, client = served
    gallery, info, _ = client.predict(prompt="a cat", width=64, height=64, steps=2, seed=2,
                                      styles=["enhance", "pixel-art"], enable_hr=True,
                                      hr_scale=1.5, hr_upscaler="Lanczos", api_name="/txt2img")
    with Image.open(gallery[0]["image"]) as out:
        assert out.size == (96, 96)
    parsed = parse_infotext(info)
    assert parsed["prompt"].startswith("pixel-art breathtaking a cat")
    assert parsed["params"]["Styles"] == "enhance, pixel-art"
    assert parsed["params"]["Hires upscaler"] == "Lanczos"


# Gradio's image input may refuse the file itself ("cannot identify image file"); what
# reaches the app is refused by webui.imaging.open_image with its own words
UNREADABLE = "cannot identify image file|is empty|not an image|damaged or truncated"


@pytest.mark.parametrize("name", ["empty.png", "text.png", "truncated.png"])
def test_bad_uploads_are_clear_errors_and_app_keeps_serving(served, files, name):
    message = UNREADABLE
    ctx, client = served
    folder, _, _ = files
    with pytest.raises(AppError, match=message):
        client.predict(prompt="x", image=handle_file(str(folder / name)), width=64,
                       height=64, steps=2, api_name="/img2img")
    with pytest.raises(AppError, match="mask is empty"):
        Image.new("L", (64, 64), 0).save(folder / "black.png")
        client.predict(prompt="x", image=handle_file(str(folder / "image.png")),
                       mask=handle_file(str(folder / "black.png")), width=64, height=64,
                       steps=2, api_name="/inpaint")
    assert ctx.store.count() == 0
    gallery, _, _ = client.predict(prompt="x", image=handle_file(str(folder / "image.png")),
                                   width=64, height=64, steps=2, api_name="/img2img")
    assert len(gallery) == 1 and ctx.store.count() == 1
