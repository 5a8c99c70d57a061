"""Bad uploads to the A1111 and Stability HTTP APIs, on a served app with a small
``--max-image-pixels`` (issue 4's "Bad input"): a clear 400 and nothing half-written."""

from __future__ import annotations

import base64
import io

from PIL import Image

from tests.engine.modes_helpers import (assert_inpaint_kept_outside, box_mask, displayed,
                                        encode, noise_image, rotated_jpeg)
from tests.helpers import UPLOAD_LIMIT, Snapshot, b64


def test_exif_rotated_photo_is_honoured_by_the_a1111_api(limited_app):
    """A phone photo stored 128x64 with EXIF 'rotate 90' through ``/sdapi/v1/img2img``
    (inpaint, a mask of its displayed size): the app sees it 64x128, upright."""
    ctx, _, http, _ = limited_app
    data = rotated_jpeg((128, 64))
    upright = displayed(data)
    mask = box_mask((64, 128), (16, 48, 48, 80))
    r = http.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": [b64(data)], "mask": b64(encode(mask)), "width": 64,
        "height": 128, "steps": 2, "seed": 1, "mask_blur": 0, "inpaint_full_res": False,
        "sampler_name": "Euler"})
    assert r.status_code == 200, r.text
    with Image.open(io.BytesIO(base64.b64decode(r.json()["images"][0]))) as out:
        assert_inpaint_kept_outside(out.convert("RGB"), upright, mask, 0)


def test_upload_above_max_image_pixels_is_refused_by_the_a1111_api(limited_app):
    ctx, _, http, _ = limited_app
    snap = Snapshot(ctx)
    r = http.post("/sdapi/v1/img2img", json={
        "prompt": "x", "init_images": [b64(encode(noise_image(100, 100)))], "width": 64,
        "height": 64, "steps": 2})
    assert r.status_code == 400, r.text
    assert f"above the limit of {UPLOAD_LIMIT}" in r.json()["detail"]
    snap.assert_nothing_written()


def test_upload_above_max_image_pixels_is_refused_by_the_stability_api(limited_app):
    ctx, _, http, _ = limited_app
    engine = ctx.manager.checkpoint_names()[0]
    snap = Snapshot(ctx)
    r = http.post(f"/v1/generation/{engine}/image-to-image",
                  files={"init_image": ("big.png", encode(noise_image(100, 96)), "image/png")},
                  data={"text_prompts[0][text]": "x", "steps": "2"})
    assert r.status_code == 400, r.text
    assert f"above the limit of {UPLOAD_LIMIT}" in r.json()["message"]
    snap.assert_nothing_written()
