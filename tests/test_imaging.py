"""Reading uploads: odd modes, EXIF rotation, and clear errors for files that are not images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from webui.imaging import ImageReadError, open_image, to_mask, to_rgb


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA", "1"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((8, 16), 65535, np.uint16))
    out = to_rgb(open_image(png_bytes(img, "TIFF" if mode == "CMYK" else "PNG")))
    assert out.mode == "RGB" and out.size == (16, 8)
    if mode == "I;16":
        assert out.getpixel((0, 0)) == (255, 255, 255)  # 16-bit white stays white


def test_transparent_pixels_flatten_to_white_and_count_as_unmasked():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(img).getpixel((0, 0)) == (255, 255, 255)
    assert to_mask(img).getpixel((0, 0)) == 0


def test_exif_orientation_is_honoured():
    img = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = open_image(png_bytes(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)


@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b"hello, not a picture", "not an image"),
])
def test_unreadable_files_are_clear_errors(data, message):
    with pytest.raises(ImageReadError, match=message):
        open_image(data)


def test_truncated_png_is_a_clear_error():
    data = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3),
                                                                        dtype=np.uint8)))
    with pytest.raises(ImageReadError, match="damaged or truncated"):
        open_image(data[: len(data) // 2])


def test_image_above_pixel_limit_is_refused():
    with pytest.raises(ImageReadError, match="above the limit of 1000 pixels"):
        open_image(png_bytes(Image.new("RGB", (40, 40))), max_pixels=1000)
