"""Shared builders for the image-mode tests (img2img, inpaint, outpaint, hires)."""

from __future__ import annotations

import io
import shutil

import numpy as np
from PIL import Image


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def noise_image(w: int = 64, h: int = 64, seed: int = 0) -> Image.Image:
    """A picture no model would reproduce by chance."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return mask


def inpaint_ctx_for(tmp_path_factory, tiny_models_dir):
    """An app context whose models folder holds tiny-sdxl-a and the 9-channel tiny inpaint."""
    from webui.app import create_context
    from webui.config import Settings
    from webui.testing.tiny_inpaint import write_tiny_inpaint

    root = tmp_path_factory.mktemp("inpaint-models")
    (root / "Stable-diffusion").mkdir()
    shutil.copytree(tiny_models_dir / "Stable-diffusion" / "tiny-sdxl-a",
                    root / "Stable-diffusion" / "tiny-sdxl-a")
    write_tiny_inpaint(root)
    work = tmp_path_factory.mktemp("inpaint-work")
    return create_context(Settings(models_dir=root, outputs_dir=work / "outputs",
                                   data_dir=work / "data", device="cpu"))


def unet_calls(ctx, model="tiny-sdxl-a"):
    """Count UNet forward calls of ``model`` (a list that grows by one per call)."""
    calls = []
    unet = ctx.manager.preload(model).pipe.unet
    return calls, unet.register_forward_hook(lambda *a: calls.append(1))


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    """``img`` as the bytes of a ``fmt`` file."""
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def odd_image(mode: str, size=(64, 64)) -> tuple[bytes, str]:
    """(file bytes, suffix) of a picture stored in ``mode``: grayscale, RGBA, palette, CMYK or
    16-bit, as users' files come."""
    base = noise_image(*size, seed=21)
    if mode == "I;16":
        arr = (np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        return encode(Image.fromarray(arr)), ".png"
    if mode == "CMYK":
        return encode(base.convert("CMYK"), "JPEG", quality=95), ".jpg"
    if mode == "RGBA":
        img = base.convert("RGBA")
        img.putalpha(200)
        return encode(img), ".png"
    return encode(base.convert(mode)), ".png"


def rotated_jpeg(size=(64, 32), orientation: int = 6) -> bytes:
    """A JPEG stored ``size`` wide whose EXIF says: rotate 90 degrees clockwise to display."""
    img = noise_image(*size, seed=8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def displayed(data: bytes) -> Image.Image:
    """The picture in ``data`` as a viewer shows it (EXIF rotation applied), RGB."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as img:
        return ImageOps.exif_transpose(img).convert("RGB")


def assert_inpaint_kept_outside(out: Image.Image, expected: Image.Image, mask: Image.Image,
                                blur: int) -> None:
    """Pixels outside the (blurred) mask of an inpaint result equal ``expected``'s."""
    from webui.imaging import blur_mask

    assert out.size == expected.size
    outside = np.asarray(blur_mask(mask, blur)) == 0
    diff = np.abs(pixels(out) - pixels(expected)).max(axis=-1)
    assert diff[outside].max() <= 2, "the EXIF rotation was not applied to the init image"
