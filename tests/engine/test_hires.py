"""Hires fix: a second, larger img2img pass recorded as A1111 records it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.modes_helpers import pixels, unet_calls
from tests.helpers import small_request
from webui.engine.txt2img import run_txt2img
from webui.metadata.infotext import parse_infotext
from webui.request import RequestError


@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_hires_fix_makes_larger_image_and_records_a1111_keys(ctx, upscaler):
    req = small_request(enable_hr=True, hr_scale=1.5, hr_upscaler=upscaler, hr_steps=3,
                        hr_denoising_strength=0.7, seed=9)
    out = ctx.jobs.run(req)
    gen = out.result.images[0]
    assert gen.image.size == (96, 96)
    params = parse_infotext(gen.infotext)["params"]
    assert params["Size"] == "64x64"  # A1111 records the first pass's size
    assert params["Steps"] == "2" and params["Seed"] == "9"
    assert (params["Denoising strength"], params["Hires upscale"], params["Hires steps"],
            params["Hires upscaler"]) == ("0.7", "1.5", "3", upscaler)
    (row,) = ctx.store.recent()
    assert row.mode == "txt2img" and row.params["Hires upscaler"] == upscaler
    with __import__("PIL").Image.open(out.saved[0].path) as img:
        assert img.size == (96, 96)


def test_second_pass_changes_the_picture(ctx):
    plain = run_txt2img(ctx.manager, small_request(seed=3)).images[0].image
    hires = run_txt2img(ctx.manager, small_request(
        seed=3, enable_hr=True, hr_scale=1.0, hr_upscaler="Lanczos", hr_steps=4,
        hr_denoising_strength=0.5)).images[0].image
    assert hires.size == plain.size
    assert np.abs(pixels(hires) - pixels(plain)).mean() > 1


def test_hires_batch_keeps_seeds(ctx):
    result = run_txt2img(ctx.manager, small_request(seed=40, batch_size=2, enable_hr=True,
                                                    hr_scale=1.25, hr_upscaler="Lanczos"))
    assert [g.seed for g in result.images] == [40, 41]
    assert all(g.image.size == (80, 80) for g in result.images)


@pytest.mark.parametrize("change, message", [
    (dict(hr_scale=5), "hires upscale must be between 1 and 4, got 5"),
    (dict(hr_upscaler="ESRGAN"), "unknown hires upscaler 'ESRGAN'"),
    (dict(width=1024, hr_scale=2.5), "above the limit of 2048"),
])
def test_bad_hires_is_refused(ctx, change, message):
    with pytest.raises(RequestError, match=message):
        ctx.jobs.run(small_request(enable_hr=True, **change))
    assert ctx.store.count() == 0


@pytest.mark.parametrize("strength", [0.0, 0.1])
def test_hires_strength_that_rounds_to_no_step_runs_one(ctx, strength):
    """A1111 answers hires fix with denoising 0 (or steps x strength < 1) by running one
    step at the lowest noise; so do we, instead of refusing the request."""
    calls, hook = unet_calls(ctx)
    try:
        out = ctx.jobs.run(small_request(enable_hr=True, hr_scale=1.5, hr_upscaler="Lanczos",
                                         hr_denoising_strength=strength, steps=4))
    finally:
        hook.remove()
    gen = out.result.images[0]
    assert gen.image.size == (96, 96)
    assert len(calls) == 4 + 1  # the first pass's 4 steps, then exactly one hires step
    assert parse_infotext(gen.infotext)["params"]["Denoising strength"] == f"{strength:g}"
