"""An ESRGAN model as the Hires fix upscaler: a real txt2img job on the tiny SDXL model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers import Snapshot, small_request
from tests.upscaling.helpers import TINY, pixels
from webui.errors import RequestError
from webui.metadata.infotext import parse_infotext


def _hires(ctx, upscaler: str, **kw):
    req = small_request(enable_hr=True, hr_scale=4, hr_upscaler=upscaler, hr_steps=1,
                        hr_denoising_strength=0.3, seed=5, **kw)
    return ctx.jobs.run(req)


def test_esrgan_upscales_4x_in_hires_fix(esrgan_ctx):
    ctx = esrgan_ctx
    assert TINY in ctx.upscalers.names()
    out = _hires(ctx, TINY.lower())  # the file stem, any case
    gen = out.result.images[0]
    assert gen.image.size == (256, 256)  # 64 px x 4
    params = parse_infotext(gen.infotext)["params"]
    assert params["Hires upscaler"] == TINY and params["Hires upscale"] == "4"
    assert params["Size"] == "64x64"
    with Image.open(out.saved[0].path) as img:
        assert img.size == (256, 256)
    (row,) = ctx.store.recent()
    assert row.params["Hires upscaler"] == TINY
    # the same job with Lanczos gives another picture: the model did the upscaling
    lanczos = _hires(ctx, "Lanczos").result.images[0].image
    assert np.abs(pixels(lanczos) - pixels(gen.image)).mean() > 2


def test_upscaler_names_are_checked_before_the_queue(esrgan_ctx):
    ctx = esrgan_ctx
    before = Snapshot(ctx)
    with pytest.raises(RequestError, match=rf"unknown hires upscaler 'R-ESRGAN 4x\+'; choose "
                                           rf"one of: Latent, None, Lanczos, Nearest, {TINY}"):
        _hires(ctx, "R-ESRGAN 4x+")
    before.assert_nothing_written()


def test_a1111_names_and_resizers_reach_hires_fix(esrgan_ctx):
    """A1111 clients send "Nearest" and "None" too: both run (None = Lanczos to the size)."""
    ctx = esrgan_ctx
    for name in ("Nearest", "None"):
        out = ctx.jobs.run(small_request(enable_hr=True, hr_scale=1.5, hr_upscaler=name,
                                         hr_steps=1, seed=2))
        assert out.result.images[0].image.size == (96, 96)
        assert parse_infotext(out.result.images[0].infotext)["params"]["Hires upscaler"] == name
