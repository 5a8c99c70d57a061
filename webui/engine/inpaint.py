"""Inpainting: repaint the masked part of an image, keep the rest pixel for pixel.

"Whole picture" works on the image resized to the request's size; "Only masked" crops the
mask's box plus padding (grown to the request's aspect ratio), works on the crop at the
request's size and pastes the result back. Either way the result goes over the original
through the blurred mask, so pixels where the blurred mask is black come out unchanged.
Works with ordinary SDXL checkpoints and 9-channel inpainting checkpoints alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from webui.engine.core import ModeSpec, run_job
from webui.errors import RequestError
from webui.engine.img2img import styles_params
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult, fmt_number
from webui.imaging import blur_mask, crop_region, fill_masked, paste_through, resize_image
from webui.request import GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class InpaintJob:
    """What the pipeline sees (``image``/``mask`` at the work size) and how to paste back."""

    image: Image.Image  # work image, masked content applied
    mask: Image.Image  # work mask (blurred), L
    base: Image.Image  # the picture the result is pasted into
    overlay_mask: Image.Image  # blurred mask at ``base``'s size
    box: tuple[int, int, int, int] | None  # where the work area sits in ``base``


def prepare(req: GenerationRequest, image: Image.Image, mask: Image.Image) -> InpaintJob:
    """Crop/resize ``image`` and ``mask`` (white = repaint) for the pipeline."""
    size = (req.width, req.height)
    blurred = blur_mask(mask, req.mask_blur)
    if req.inpaint_area == "Only masked":
        box = crop_region(blurred, req.inpaint_padding, *size)
        work = image.crop(box).resize(size, Image.Resampling.LANCZOS)
        work_mask = blurred.crop(box).resize(size, Image.Resampling.LANCZOS)
        job = InpaintJob(work, work_mask, image, blurred, box)
    else:
        work = resize_image(req.resize_mode, image, *size)
        work_mask = resize_image(req.resize_mode, blurred.convert("RGB"), *size).convert("L")
        job = InpaintJob(work, work_mask, work, work_mask, None)
    if req.masked_content == "fill":
        job.image = fill_masked(job.image, job.mask)
    return job


@torch.no_grad()
def latent_noise_inputs(pipe, job: InpaintJob, seeds: list[int]) -> dict:
    """Masked content "latent noise": the image's latents with the masked area replaced by
    random latents (seeded per image), passed to the pipeline as its image."""
    vae = pipe.vae
    dtype = next(vae.parameters()).dtype
    pixels = pipe.image_processor.preprocess(job.image).to(vae.device, dtype)
    mask = pipe.mask_processor.preprocess(job.mask).to(vae.device, dtype)
    latents = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
    small = F.interpolate(mask, size=latents.shape[-2:])
    batch = []
    for s in seeds:
        noise = torch.randn(latents.shape, generator=torch.Generator("cpu").manual_seed(s))
        batch.append(latents * (1 - small) + noise.to(latents) * small)
    out = {"image": torch.cat(batch)}
    if pipe.unet.config.in_channels == 9:
        masked = pixels * (mask < 0.5)
        masked_latents = vae.encode(masked).latent_dist.mode() * vae.config.scaling_factor
        out["masked_image_latents"] = masked_latents.repeat(len(seeds), 1, 1, 1)
    return out


def inpaint_params(req: GenerationRequest) -> dict:
    """A1111's infotext keys of an inpainting job."""
    params = {"Denoising strength": fmt_number(req.denoising_strength)}
    if req.mask_blur:
        params["Mask blur"] = req.mask_blur
    if req.invert_mask:
        params["Mask mode"] = "Inpaint not masked"
    params["Masked content"] = req.masked_content
    if req.inpaint_area == "Only masked":
        params["Inpaint area"] = "Only masked"
        params["Masked area padding"] = req.inpaint_padding
    return {**params, **styles_params(req)}


def control_inputs(req: GenerationRequest, job: InpaintJob):
    """What ControlNet units see in inpainting: the original picture (before "fill") as the
    pipeline's work area, and for a unit's own image of the picture's size the same crop
    ("Only masked"), as sd-webui-controlnet crops its inputs with the init image."""
    if req.masked_content == "latent noise":
        # diffusers' ControlNet inpaint pipeline takes pictures, not the latents this
        # masked content starts from
        raise RequestError("ControlNet units in inpainting work with masked content fill or "
                           "original, not latent noise")
    size = (req.width, req.height)
    if job.box is None:
        return resize_image(req.resize_mode, req.init_image, *size), None
    box = job.box

    def crop(image: Image.Image) -> Image.Image:
        if image.size != req.init_image.size:
            return image  # another picture: used whole, by its unit's resize mode
        return image.crop(box).resize(size, Image.Resampling.LANCZOS)

    return crop(req.init_image), crop


def run_prepared(manager, req: GenerationRequest, job: InpaintJob, progress: JobProgress | None,
                 extra_params=inpaint_params) -> GenerationResult:
    """Run the inpaint pipeline on ``job`` through the shared loop, pasting each result back."""

    def call_kwargs(r, seeds, pipe):
        kwargs = {"image": [job.image] * len(seeds), "mask_image": [job.mask] * len(seeds),
                  "strength": r.denoising_strength, "width": r.width, "height": r.height}
        if r.masked_content == "latent noise":
            kwargs.update(latent_noise_inputs(pipe, job, seeds))
        return kwargs

    spec = ModeSpec(
        pipeline="inpaint", call_kwargs=call_kwargs, extra_params=extra_params,
        postprocess=lambda img, i: paste_through(job.base, img, job.overlay_mask, job.box),
    )
    if req.control_units:
        spec.control_image, spec.control_crop = control_inputs(req, job)
    return run_job(manager, req, progress, spec)


def run_inpaint(manager, req: GenerationRequest,
                progress: JobProgress | None = None) -> GenerationResult:
    """Inpaint ``req.init_image`` where ``req.mask`` is white (validated: L, image's size,
    already inverted for "Inpaint not masked")."""
    return run_prepared(manager, req, prepare(req, req.init_image, req.mask), progress)
