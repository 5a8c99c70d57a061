"""Inpainting on the tiny models (4- and 9-channel): untouched pixels stay exactly as they were."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.modes_helpers import box_mask, inpaint_ctx_for, noise_image, pixels
from tests.helpers import small_request
from webui.imaging import blur_mask
from webui.metadata.infotext import parse_infotext
from webui.request import RequestError


@pytest.fixture(scope="module")
def ictx(tmp_path_factory, tiny_models_dir):
    return inpaint_ctx_for(tmp_path_factory, tiny_models_dir)


def inpaint(ctx, **kw):
    kw.setdefault("init_image", noise_image())
    kw.setdefault("mask", box_mask((64, 64), (24, 24, 40, 40)))
    kw.setdefault("model", "tiny-sdxl-a")
    return ctx.jobs.run(small_request(mode="inpaint", **kw))


def assert_only_mask_changed(image, out, mask, blur):
    outside = np.asarray(blur_mask(mask, blur)) == 0
    inside = np.asarray(mask) == 255
    assert outside.sum() > 1000  # the test checks a real area
    diff = np.abs(pixels(out) - pixels(image)).max(axis=-1)
    assert diff[outside].max() == 0, "pixels outside the blurred mask changed"
    assert diff[inside].mean() > 5, "the masked area was not repainted"


@pytest.mark.parametrize("model", ["tiny-sdxl-a", "tiny-sdxl-inpaint"])
@pytest.mark.parametrize("content", ["original", "fill", "latent noise"])
def test_pixels_outside_blurred_mask_unchanged(ictx, model, content):
    image, mask = noise_image(seed=3), box_mask((64, 64), (16, 20, 40, 44))
    out = inpaint(ictx, init_image=image, mask=mask, model=model, masked_content=content,
                  mask_blur=4).result.images[0]
    assert out.image.size == (64, 64)
    assert_only_mask_changed(image, out.image, mask, 4)
    params = parse_infotext(out.infotext)["params"]
    assert params["Mask blur"] == "4" and params["Masked content"] == content
    assert params["Model"] == model


def test_masked_content_changes_the_result(ictx):
    outs = [pixels(inpaint(ictx, masked_content=c, denoising_strength=0.6).result.images[0].image)
            for c in ("original", "fill", "latent noise")]
    assert not np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_inpaint_not_masked_keeps_the_masked_area(ictx):
    image, mask = noise_image(seed=4), box_mask((64, 64), (8, 8, 56, 56))
    out = inpaint(ictx, init_image=image, mask=mask, invert_mask=True, mask_blur=2)
    gen = out.result.images[0]
    inverted = mask.point(lambda v: 255 - v)
    assert_only_mask_changed(image, gen.image, inverted, 2)
    assert parse_infotext(gen.infotext)["params"]["Mask mode"] == "Inpaint not masked"


def test_only_masked_works_on_a_crop_and_pastes_back(ictx):
    image = noise_image(160, 128, seed=5)
    mask = box_mask(image.size, (100, 40, 116, 56))
    out = inpaint(ictx, init_image=image, mask=mask, inpaint_area="Only masked",
                  inpaint_padding=8, width=64, height=64, mask_blur=2).result.images[0]
    assert out.image.size == (160, 128)  # the original's size, not the work size
    assert_only_mask_changed(image, out.image, mask, 2)
    params = parse_infotext(out.infotext)["params"]
    assert params["Inpaint area"] == "Only masked" and params["Masked area padding"] == "8"


def test_all_white_mask_repaints_everything(ictx):
    image = noise_image(seed=6)
    gen = inpaint(ictx, init_image=image, mask=box_mask((64, 64), (0, 0, 64, 64))).result
    assert np.abs(pixels(gen.images[0].image) - pixels(image)).mean() > 5


def test_empty_mask_is_refused_clearly(ictx):
    with pytest.raises(RequestError, match="mask is empty: nothing to inpaint"):
        inpaint(ictx, mask=box_mask((64, 64), (0, 0, 0, 0)))
    with pytest.raises(RequestError, match="needs a mask"):
        inpaint(ictx, mask=None)
    assert ictx.store.count() == 0 or all(r.mode != "inpaint" or r.id for r in ictx.store.recent())


def test_mask_of_other_size_is_resized_with_a_notice(ictx):
    req = small_request(mode="inpaint", init_image=noise_image(), model="tiny-sdxl-a",
                        mask=box_mask((128, 128), (48, 48, 80, 80)))
    out = ictx.jobs.run(req)
    assert out.result.images[0].image.size == (64, 64)
    ran = out.result.request  # the validated request; the caller's own is left as it was
    assert ran.notices == ("mask was 128x128, resized to the image's 64x64",)
    assert ran.mask.size == (64, 64) and req.mask.size == (128, 128) and req.notices == ()


def test_only_the_9_channel_checkpoint_has_9_channels(ictx):
    pipe = ictx.manager.preload("tiny-sdxl-inpaint").pipe
    assert pipe.unet.config.in_channels == 9
