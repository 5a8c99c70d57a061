"""Text-to-image: the shared loop with the txt2img pipeline at the requested size, and
A1111's Hires fix (generate, upscale, then an img2img pass at the larger size)."""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
import torch.nn.functional as F
from PIL import Image

from webui.engine.core import ModeSpec, job_models, prompts_and_loras, run_job
from webui.engine.img2img import styles_params
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult, fmt_number
from webui.request import GenerationRequest, hires_size

log = logging.getLogger(__name__)


def run_txt2img(manager, req: GenerationRequest,
                progress: JobProgress | None = None) -> GenerationResult:
    """Generate ``batch_count`` x ``batch_size`` images from ``req``'s prompt (with the
    Hires fix second pass when ``req.enable_hr``)."""
    spec = ModeSpec(
        pipeline="txt2img",
        call_kwargs=lambda r, seeds, pipe: {"width": r.width, "height": r.height},
        extra_params=styles_params,
    )
    if not req.enable_hr:
        return run_job(manager, req, progress, spec)
    # one bundle for both passes: the hires pass is the same models' img2img pipeline
    loras = prompts_and_loras(req)[4]
    with manager.prepare(job_models(req, ("txt2img", "img2img"), loras,
                                           getattr(manager, "extra_samplers", None))) as bundle:
        first = run_job(manager, req, progress, spec, bundle)
        if first.interrupted or not first.images:
            return first
        return _hires_pass(manager, req, first, progress, bundle)


def hires_params(req: GenerationRequest) -> dict:
    """A1111's infotext keys of the Hires fix."""
    params = {"Denoising strength": fmt_number(req.hr_denoising_strength),
              "Hires upscale": fmt_number(req.hr_scale)}
    if req.hr_steps:
        params["Hires steps"] = req.hr_steps
    params["Hires upscaler"] = req.hr_upscaler
    return {**params, **styles_params(req)}


@torch.no_grad()
def upscale_latents(pipe, firsts: list, size: tuple[int, int]) -> torch.Tensor:
    """"Latent" upscaler: the first pass's latents scaled bilinearly to ``size``/8, as A1111
    does. The sampler's own latents are used; an image without them (none recorded) is
    encoded with the VAE instead."""
    vae = pipe.vae
    dtype = next(vae.parameters()).dtype
    parts = []
    for first in firsts:
        if first.latents is not None:
            parts.append(first.latents.to(vae.device, dtype))
        else:
            pixels = pipe.image_processor.preprocess([first.image]).to(vae.device, dtype)
            parts.append(vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor)
    return F.interpolate(torch.cat(parts), size=(size[1] // 8, size[0] // 8), mode="bilinear",
                         align_corners=False)


def upscale_image(manager, name: str, image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An image upscaler's result at ``size``: a resizer (Lanczos, Nearest, None) or an
    ESRGAN-family model from the manager's upscaler registry (``webui.upscaling``), then
    Lanczos to the exact size, as A1111's hires fix does."""
    registry = getattr(manager, "upscalers", None)
    if registry is None:  # a manager made without the app context: the resizers only
        from webui.upscaling.registry import UpscalerRegistry

        registry = manager.upscalers = UpscalerRegistry()
    return registry.upscale(name, image, size)


def _hires_pass(manager, req: GenerationRequest, first: GenerationResult,
                progress: JobProgress | None, bundle) -> GenerationResult:
    """Upscale each first-pass image and denoise it again at the Hires fix size."""
    size = hires_size(req)
    by_seed = {g.seed: g for g in first.images}
    second_req = replace(req, seed=first.seed, width=size[0], height=size[1], enable_hr=False)

    def call_kwargs(r, seeds, pipe):
        firsts = [by_seed[s] for s in seeds]
        if req.hr_upscaler == "Latent":
            image = upscale_latents(pipe, firsts, size)
        else:
            image = [upscale_image(manager, req.hr_upscaler, g.image, size) for g in firsts]
        return {"image": image, "strength": req.hr_denoising_strength,
                "num_inference_steps": req.hr_steps or req.steps}

    spec = ModeSpec(pipeline="img2img", call_kwargs=call_kwargs,
                    extra_params=lambda r: hires_params(req), size=(req.width, req.height))
    second = run_job(manager, second_req, progress, spec, bundle)
    second.request = req
    second.duration += first.duration
    log.info("hires fix: %dx%d -> %dx%d, %d image(s)", req.width, req.height, *size,
             len(second.images))
    return second
