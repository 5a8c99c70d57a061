"""img2img on the tiny model: resize modes, denoising strength, seeds, infotext, records."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.engine.modes_helpers import noise_image, pixels, unet_calls
from tests.helpers import small_request
from webui.imaging import resize_image
from webui.metadata.infotext import parse_infotext


def img2img(ctx, **kw):
    kw.setdefault("init_image", noise_image())
    return ctx.jobs.run(small_request(mode="img2img", **kw))


def test_img2img_makes_image_of_request_size_and_records_it(ctx):
    out = img2img(ctx, init_image=noise_image(80, 48), width=64, height=96,
                  denoising_strength=0.5)
    gen = out.result.images[0]
    assert gen.image.size == (64, 96)
    params = parse_infotext(gen.infotext)["params"]
    assert params["Denoising strength"] == "0.5" and params["Size"] == "64x96"
    (row,) = ctx.store.recent()
    assert row.mode == "img2img" and ctx.store.image_path(row).is_file()
    assert "img2img-images" in str(out.saved[0].path)


def test_init_image_and_strength_matter_seed_reproduces(ctx):
    black, white = Image.new("RGB", (64, 64), "black"), Image.new("RGB", (64, 64), "white")
    a = img2img(ctx, seed=5, steps=4, init_image=black).result.images[0].image
    b = img2img(ctx, seed=5, steps=4, init_image=black).result.images[0].image
    c = img2img(ctx, seed=5, steps=4, init_image=white).result.images[0].image
    d = img2img(ctx, seed=5, steps=4, init_image=black, denoising_strength=0.5).result.images[0].image
    assert np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))
    assert not np.array_equal(pixels(a), pixels(d))


def test_batch_uses_consecutive_seeds(ctx):
    out = img2img(ctx, seed=20, batch_size=2, batch_count=2)
    assert [g.seed for g in out.result.images] == [20, 21, 22, 23]


def test_resize_modes_keep_content_where_a1111_puts_it():
    # left half red, right half blue, 128x64 -> 64x64
    src = Image.new("RGB", (128, 64), (255, 0, 0))
    src.paste((0, 0, 255), (64, 0, 128, 64))
    just = resize_image("Just resize", src, 64, 64)
    assert just.getpixel((5, 32)) == (255, 0, 0) and just.getpixel((60, 32)) == (0, 0, 255)
    crop = resize_image("Crop and resize", src, 64, 64)  # the centre 64x64 of the original
    assert crop.getpixel((5, 32)) == (255, 0, 0) and crop.getpixel((60, 32)) == (0, 0, 255)
    fill = resize_image("Resize and fill", src, 64, 64)  # 64x32 band, edges stretched
    assert fill.size == (64, 64)
    assert fill.getpixel((5, 2)) == (255, 0, 0) and fill.getpixel((60, 62)) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["Crop and resize", "Resize and fill"])
def test_resize_modes_run_end_to_end(ctx, mode):
    out = img2img(ctx, init_image=noise_image(96, 64), resize_mode=mode)
    gen = out.result.images[0]
    assert gen.image.size == (64, 64)
    assert parse_infotext(gen.infotext)["params"]["Resize mode"] == mode


def test_img2img_without_image_is_refused(ctx):
    from webui.request import RequestError

    with pytest.raises(RequestError, match="img2img needs an image"):
        img2img(ctx, init_image=None)
    assert ctx.store.count() == 0


def test_strength_that_rounds_to_no_step_runs_one(ctx):
    """steps x denoising strength < 1 runs one step (A1111, ComfyUI) instead of a 400."""
    calls, hook = unet_calls(ctx)
    try:
        out = img2img(ctx, steps=10, denoising_strength=0.05)
    finally:
        hook.remove()
    assert len(calls) == 1
    gen = out.result.images[0]
    assert parse_infotext(gen.infotext)["params"]["Denoising strength"] == "0.05"
    assert gen.image.size == (64, 64) and ctx.store.count() == 1
