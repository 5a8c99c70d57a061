"""Shared builders for the image-mode tests (img2img, inpaint, outpaint, hires)."""

from __future__ import annotations

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
