"""SDXL's invisible watermark (issue 15 item 4): Stability's 48-bit message with
invisible-watermark's dwtDct, read back 48/48 from our PNG, JPEG and WebP; pictures under
256 px wide are skipped and say so; an admin turns it off."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.provenance.helpers import reencode, textured
from webui.imageio import save_with_parameters
from webui.provenance import Provenance
from webui.provenance import watermark as wm

INFOTEXT = "a cat\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512"


def test_message_is_stabilitys_48_bit_constant():
    # generative-models, sgm/inference/helpers.py and scripts/demo/detect.py
    assert wm.WATERMARK_MESSAGE == 0xB3EC907BB19E
    assert len(wm.WATERMARK_BITS) == 48
    assert "".join(map(str, wm.WATERMARK_BITS)) == \
        "101100111110110010010000011110111011000110011110"
    assert wm.METHOD == "dwtDct"


def test_the_library_is_installed_with_one_opencv():
    """invisible-watermark imports here, beside the pinned torch, with exactly one package
    providing cv2 (requirements.txt's opencv-python; never a headless one beside it)."""
    import importlib.metadata as md

    assert wm.available() is None
    cv2_dists = {d.metadata["Name"].lower() for d in md.distributions()
                 if d.metadata["Name"] and d.metadata["Name"].lower().startswith(
                     ("opencv-python", "opencv-contrib-python"))}
    assert cv2_dists == {"opencv-python"}, cv2_dists


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_read_back_48_of_48_from_our_files(fmt):
    marked = wm.embed_watermark(textured(1))
    buf = io.BytesIO()
    save_with_parameters(marked, buf, INFOTEXT, fmt)
    buf.seek(0)
    with Image.open(buf) as saved:
        reading = wm.read_watermark(saved)
    assert (reading.bits_matched, reading.of, reading.found) == (48, 48, True), fmt
    assert reading.text() == "SDXL watermark: 48/48 bits (found)"


def test_our_jpeg_is_444_at_quality_90_or_more():
    from PIL import JpegImagePlugin

    buf = io.BytesIO()
    save_with_parameters(textured(2, 256, 256), buf, INFOTEXT, "jpeg", quality=60)
    buf.seek(0)
    ours = Image.open(buf)
    assert JpegImagePlugin.get_sampling(ours) == 0  # 4:4:4: colour kept at full resolution
    q90 = io.BytesIO()
    textured(2, 256, 256).save(q90, "JPEG", quality=90, subsampling=0)
    q90.seek(0)
    # a lower quality means larger quantisation steps; ours are no larger than quality 90's
    assert sum(ours.quantization[0]) <= sum(Image.open(q90).quantization[0])


def test_what_the_mark_does_not_survive():
    """Default JPEG (quality 75, 4:2:0), halving the size and a crop that moves the block
    grid lose it; the README says so (benchmarks/watermark_bench.py prints the numbers)."""
    marked = wm.embed_watermark(textured(3))
    assert not wm.read_watermark(reencode(marked, format="JPEG")).found
    assert not wm.read_watermark(marked.resize((256, 256), Image.LANCZOS)).found
    assert not wm.read_watermark(marked.crop((20, 20, 480, 480))).found


def test_an_unmarked_picture_is_not_found():
    reading = wm.read_watermark(textured(4))
    assert reading.of == 48 and not reading.found and reading.bits_matched < wm.FOUND_AT


def test_small_pictures_are_skipped_and_said_so():
    prov = Provenance()
    narrow = textured(5, 248, 512)  # under 256 px wide: diffusers' SDXL watermarker skips
    out, notice = prov.mark(narrow)
    assert out is narrow and notice == wm.NOT_MARKED_SMALL
    assert "under 256 px" in notice
    few = textured(5, 256, 248)  # 256 wide but under 256x256 pixels: imwatermark refuses
    assert prov.mark(few) == (few, wm.NOT_MARKED_SMALL)
    marked, notice = prov.mark(textured(5, 256, 256))
    assert notice is None and wm.read_watermark(marked).bits_matched == 48
    reading = wm.read_watermark(textured(5, 128, 128))
    assert not reading.found and "too small" in reading.reason


def test_admin_can_turn_it_off():
    prov = Provenance(watermark=False)
    picture = textured(6)
    assert prov.mark(picture) == (picture, None)  # unchanged, nothing to say
    assert "OFF (--no-watermark)" in prov.describe()


def test_marking_changes_little_and_keeps_alpha():
    picture = textured(7, 256, 256).convert("RGBA")
    picture.putalpha(200)
    marked = wm.embed_watermark(picture)
    assert marked.mode == "RGBA" and marked.getchannel("A").getextrema() == (200, 200)
    diff = np.abs(np.asarray(marked.convert("RGB"), dtype=int)
                  - np.asarray(picture.convert("RGB"), dtype=int))
    assert diff.mean() < 4 and diff.max() < 64
