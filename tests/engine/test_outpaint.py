"""Outpainting: the canvas grows, the original outside the overlap band stays exact."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.modes_helpers import noise_image, pixels
from tests.helpers import small_request
from webui.engine.outpaint import overlap_of
from webui.metadata.infotext import parse_infotext
from webui.request import RequestError


def outpaint(ctx, **kw):
    kw.setdefault("init_image", noise_image())
    return ctx.jobs.run(small_request(mode="outpaint", **kw))


@pytest.mark.parametrize("sides", [dict(outpaint_left=32), dict(outpaint_right=16, outpaint_up=8),
                                   dict(outpaint_down=24, outpaint_left=8, outpaint_right=8,
                                        outpaint_up=16)])
@pytest.mark.parametrize("content", ["fill", "latent noise"])
def test_original_outside_overlap_unchanged(ctx, sides, content):
    image = noise_image(seed=7)
    out = outpaint(ctx, init_image=image, mask_blur=4, masked_content=content, **sides)
    gen = out.result.images[0].image
    left, right = sides.get("outpaint_left", 0), sides.get("outpaint_right", 0)
    up, down = sides.get("outpaint_up", 0), sides.get("outpaint_down", 0)
    assert gen.size == (64 + left + right, 64 + up + down)
    region = pixels(gen)[up:up + 64, left:left + 64]
    ov = overlap_of(small_request(mask_blur=4))
    y1, y2 = (ov if up else 0), (64 - ov if down else 64)
    x1, x2 = (ov if left else 0), (64 - ov if right else 64)
    assert np.array_equal(region[y1:y2, x1:x2], pixels(image)[y1:y2, x1:x2])
    # the new area was painted, not left as the edge/noise fill
    assert not np.array_equal(pixels(gen)[:, :left] if left else pixels(gen)[:up],
                              np.zeros(0))
    params = parse_infotext(out.result.images[0].infotext)["params"]
    assert params["Size"] == f"{gen.width}x{gen.height}"
    assert out.saved[0].path.parent.parent.name == "outpaint-images"


def test_new_area_is_repainted(ctx):
    from webui.imaging import extend_canvas

    image = noise_image(seed=8)
    gen = outpaint(ctx, init_image=image, outpaint_right=32).result.images[0].image
    edge = extend_canvas(image, 0, 32, 0, 0)
    assert np.abs(pixels(gen)[:, 64:] - pixels(edge)[:, 64:]).mean() > 5


@pytest.mark.parametrize("change, message", [
    (dict(), "at least one side"),
    (dict(outpaint_left=12), "outpaint left must be a multiple of 8"),
    (dict(outpaint_up=-8), "outpaint up must be a multiple of 8 and not negative"),
    (dict(outpaint_right=2048), "above the limit of 2048"),
])
def test_bad_outpaint_is_refused(ctx, change, message):
    with pytest.raises(RequestError, match=message):
        outpaint(ctx, **change)
    assert ctx.store.count() == 0
