"""Bad uploads to the /img2img, /inpaint and /outpaint tabs through gradio_client, on a served
app with a small ``--max-image-pixels`` (issue 4's "Bad input").

Each refusal is checked three ways: a clear message, the app still serving (a good job runs
right after), and nothing half-written (no new history row, no new file under outputs/, an
empty ``outputs/.staging``). Covered elsewhere: 0-byte, non-image and truncated files as the
/img2img image (test_modes_api).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.engine.modes_helpers import (assert_inpaint_kept_outside, box_mask, displayed,
                                        encode, noise_image, odd_image, rotated_jpeg)
from tests.helpers import UPLOAD_LIMIT, Snapshot, still_serving, write

# Gradio's own image input may refuse a file first ("cannot identify image file"); what
# reaches the app is refused by webui.imaging.open_image with its own words
# plain words only: never Gradio's "Could not preprocess ... component at index ..." text
UNREADABLE = (r"(?i)^(image|mask)[ :].*"
              r"(is not an image this app can read|is empty|damaged or truncated)")


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_odd_image_modes_upload_through_the_img2img_endpoint(limited_app, mode):
    ctx, client, _, folder = limited_app
    data, suffix = odd_image(mode)
    before = ctx.store.count()
    gallery, _, _ = client.predict(prompt="x", image=handle_file(write(folder, f"m{suffix}",
                                                                        data)),
                                   width=64, height=64, steps=2, seed=3, api_name="/img2img")
    assert len(gallery) == 1 and ctx.store.count() == before + 1


def test_exif_rotated_photo_is_honoured_by_the_inpaint_endpoint(limited_app):
    """A phone photo stored 128x64 with EXIF 'rotate 90': the app sees it 64x128, upright."""
    ctx, client, _, folder = limited_app
    data = rotated_jpeg((128, 64))
    upright = displayed(data)
    assert upright.size == (64, 128)
    mask = box_mask((64, 128), (16, 48, 48, 80))
    gallery, info, _ = client.predict(
        prompt="x", image=handle_file(write(folder, "rot.jpg", data)),
        mask=handle_file(write(folder, "rotmask.png", encode(mask))), width=64, height=128,
        steps=2, seed=1, mask_blur=0, resize_mode="Just resize", api_name="/inpaint")
    assert "resized" not in info  # the mask fitted the upright image: no size notice
    with Image.open(gallery[0]["image"]) as out:
        assert_inpaint_kept_outside(out.convert("RGB"), upright, mask, 0)


def _bad_files(folder: Path) -> dict[str, str]:
    good = encode(noise_image(seed=11))
    return {"empty": write(folder, "empty.png", b""),
            "text": write(folder, "text.png", b"this is not a picture"),
            "truncated": write(folder, "truncated.png", good[:300])}


@pytest.mark.parametrize("which", ["empty", "text", "truncated"])
@pytest.mark.parametrize("endpoint, field", [("/inpaint", "image"), ("/inpaint", "mask"),
                                             ("/outpaint", "image")])
def test_bad_files_for_mask_and_outpaint_are_clear_errors(limited_app, endpoint, field, which):
    """0-byte, non-image and truncated files as the inpaint image or mask, or the outpaint
    image (the existing test covers only the img2img image)."""
    ctx, client, _, folder = limited_app
    bad = _bad_files(folder)[which]
    good = write(folder, "ok.png", encode(noise_image(seed=12)))
    mask = write(folder, "okmask.png", encode(box_mask((64, 64), (16, 16, 48, 48))))
    kwargs = {"image": handle_file(good)}
    if endpoint == "/inpaint":
        kwargs["mask"] = handle_file(mask)
    else:
        kwargs["right"] = 8
    kwargs[field] = handle_file(bad)
    snap = Snapshot(ctx)
    with pytest.raises(AppError, match=UNREADABLE) as refused:
        client.predict(prompt="x", width=64, height=64, steps=2, api_name=endpoint, **kwargs)
    assert "index" not in str(refused.value) and "/tmp" not in str(refused.value)
    snap.assert_nothing_written()
    still_serving(limited_app)


def test_mask_of_other_size_is_resized_with_a_notice_in_the_tab(limited_app):
    """The engine test checks the notice is recorded; here the user sees it."""
    ctx, client, _, folder = limited_app
    gallery, info, _ = client.predict(
        prompt="x", image=handle_file(write(folder, "i.png", encode(noise_image(seed=5)))),
        mask=handle_file(write(folder, "big.png",  # 96x96: at the upload limit, not above
                               encode(box_mask((96, 96), (30, 30, 66, 66))))),
        width=64, height=64, steps=2, seed=1, api_name="/inpaint")
    assert len(gallery) == 1
    assert "mask was 96x96, resized to the image's 64x64" in info


@pytest.mark.parametrize("endpoint, field", [("/img2img", "image"), ("/inpaint", "image"),
                                             ("/inpaint", "mask"), ("/outpaint", "image")])
def test_upload_above_max_image_pixels_is_refused_in_the_tabs(limited_app, endpoint, field):
    ctx, client, _, folder = limited_app
    big = write(folder, "big.png", encode(noise_image(100, 100, seed=1)))  # 10000 > 9216
    kwargs = {"image": handle_file(write(folder, "ok.png", encode(noise_image(seed=1))))}
    if endpoint == "/inpaint":
        kwargs["mask"] = handle_file(write(folder, "okm.png",
                                           encode(box_mask((64, 64), (8, 8, 40, 40)))))
    if endpoint == "/outpaint":
        kwargs["right"] = 8
    kwargs[field] = handle_file(big)
    snap = Snapshot(ctx)
    with pytest.raises(AppError,
                       match=rf"100x100 = 10000 pixels, above the limit of {UPLOAD_LIMIT}"):
        client.predict(prompt="x", width=64, height=64, steps=2, api_name=endpoint, **kwargs)
    snap.assert_nothing_written()
    still_serving(limited_app)


def test_image_at_the_limit_is_accepted(limited_app):
    ctx, client, _, folder = limited_app
    path = write(folder, "edge.png", encode(noise_image(96, 96, seed=1)))  # exactly 9216
    gallery, _, _ = client.predict(prompt="x", image=handle_file(path), width=64, height=64,
                                   steps=2, api_name="/img2img")
    assert len(gallery) == 1
