"""Users' odd pictures and masks on the engine, through ``ctx.jobs`` (issue 4's "Bad input").

Covered elsewhere: mask of another size, empty and all-white masks (test_inpaint), odd image
modes and EXIF rotation converted by ``open_image`` (test_imaging).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.engine.modes_helpers import box_mask, encode, noise_image, odd_image, pixels
from tests.helpers import Snapshot, small_request


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
@pytest.mark.parametrize("job", ["img2img", "inpaint", "outpaint"])
def test_odd_image_modes_run_every_image_mode(ctx, mode, job):
    """Grayscale, RGBA, palette, CMYK and 16-bit uploads run img2img, inpaint and outpaint on
    the engine (the unit test only converted them)."""
    from webui.imaging import open_image

    data, _ = odd_image(mode)
    image = open_image(data)
    extra = {"inpaint": dict(mask=box_mask((64, 64), (16, 16, 48, 48))),
             "outpaint": dict(outpaint_right=8)}.get(job, {})
    out = ctx.jobs.run(small_request(mode=job, init_image=image, **extra))
    (gen,) = out.result.images
    assert gen.image.mode == "RGB"
    assert gen.image.size == ((72, 64) if job == "outpaint" else (64, 64))
    assert ctx.store.count() == 1 and out.saved[0].path.is_file()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGBA", "P", "I;16"])
def test_masks_in_odd_modes_repaint_only_the_white_area(ctx, mode):
    """A mask uploaded as 1-bit, grayscale, grayscale+alpha, RGBA, palette or 16-bit PNG means
    the same area: pixels far outside it come back unchanged."""
    from webui.imaging import open_image

    base = box_mask((64, 64), (16, 16, 48, 48))
    if mode == "I;16":
        mask = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257)
    elif mode in ("LA", "RGBA"):
        mask = base.convert(mode)
        mask.putalpha(255)
    else:
        mask = base.convert(mode)
    image = noise_image(seed=4)
    out = ctx.jobs.run(small_request(mode="inpaint", init_image=image, mask_blur=0,
                                     mask=open_image(encode(mask))))
    diff = np.abs(pixels(out.result.images[0].image) - pixels(image)).max(axis=-1)
    outside = np.ones((64, 64), bool)
    outside[8:56, 8:56] = False
    assert diff[outside].max() == 0, "pixels outside the mask changed"
    assert diff[20:44, 20:44].mean() > 5, "the masked area was not repainted"


def test_empty_mask_writes_nothing(ctx):
    """The engine refuses an empty mask (covered) and leaves no row and no file behind."""
    from webui.request import RequestError

    snap = Snapshot(ctx)
    with pytest.raises(RequestError, match="mask is empty: nothing to inpaint"):
        ctx.jobs.run(small_request(mode="inpaint", init_image=noise_image(),
                                   mask=Image.new("L", (64, 64), 0)))
    with pytest.raises(RequestError, match="mask is empty"):  # inverting an all-white mask
        ctx.jobs.run(small_request(mode="inpaint", init_image=noise_image(), invert_mask=True,
                                   mask=Image.new("L", (64, 64), 255)))
    snap.assert_nothing_written()
