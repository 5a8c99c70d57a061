"""A tiny 9-channel SDXL inpainting checkpoint (random weights) for tests and the demo.

Its UNet takes latents + mask + masked-image latents (``in_channels=9``), like
``diffusers/stable-diffusion-xl-1.0-inpainting-0.1``; everything else is the tiny base's
architecture. Written in diffusers format as ``Stable-diffusion/tiny-sdxl-inpaint``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from webui.testing.tiny_models import build_pipeline

log = logging.getLogger(__name__)

TINY_INPAINT_NAME = "tiny-sdxl-inpaint"


def build_inpaint_pipeline(seed: int = 5):
    """A tiny ``StableDiffusionXLInpaintPipeline`` whose UNet has 9 input channels."""
    from diffusers import StableDiffusionXLInpaintPipeline

    base = build_pipeline("base", seed, in_channels=9)
    pipe = StableDiffusionXLInpaintPipeline.from_pipe(base, add_watermarker=False)
    assert pipe.unet.config.in_channels == 9
    return pipe


def write_tiny_inpaint(models_dir: Path | str, seed: int = 5) -> Path:
    """Write the tiny inpainting checkpoint under ``models_dir/Stable-diffusion``."""
    target = Path(models_dir) / "Stable-diffusion" / TINY_INPAINT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    build_inpaint_pipeline(seed).save_pretrained(target, safe_serialization=True)
    log.info("wrote %s", target)
    return target
