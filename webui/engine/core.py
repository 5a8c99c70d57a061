"""The denoising loop every mode shares: seeds, batches, sampler, progress, Stop, refiner
handoff and infotext. A mode supplies only what differs (a ``ModeSpec``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from webui.controlnet.apply import prepare_control
from webui.engine.preview import latents_to_preview
from webui.engine.progress import Interrupted, JobProgress
from webui.engine.result import GeneratedImage, GenerationResult, base_params, finish_params
from webui.engine.samplers import make_scheduler
from webui.metadata.infotext import format_infotext
from webui.models.bundle import JobBundle, JobModels
from webui.models.lora import extract_lora_tags
from webui.prompting.encode import prompt_kwargs
from webui.prompting.styles import apply_style_texts
from webui.request import GenerationRequest, resolve_seed

log = logging.getLogger(__name__)


@dataclass
class ModeSpec:
    """What one mode adds to the shared loop.

    pipeline: which diffusers pipeline family to call ("txt2img", "img2img", "inpaint").
    call_kwargs(req, seeds, pipe) -> extra pipeline kwargs (image, mask_image, strength,
    size...); ``pipe`` is the job's pipeline view for this mode.
    extra_params(req) -> A1111 infotext keys written after the common ones.
    postprocess(image, index_in_batch) -> image (e.g. paste an inpainted crop back).
    size: the (width, height) recorded as ``Size`` (defaults to the request's).
    """

    pipeline: str
    call_kwargs: Callable[[GenerationRequest, list[int], object], dict] = \
        lambda req, seeds, pipe: {}
    extra_params: Callable[[GenerationRequest], dict] = lambda req: {}
    postprocess: Callable[[Image.Image, int], Image.Image] | None = None
    size: tuple[int, int] | None = None
    # ControlNet / IP-Adapter units: the picture a unit without its own image controls with
    # (the init image as the pipeline sees it), and the crop a unit's own image gets first
    control_image: Image.Image | None = None
    control_crop: Callable[[Image.Image], Image.Image] | None = None


class _StepCounter:
    """Feeds ``JobProgress`` from diffusers' step callback, correcting the total as each
    pipeline call reveals its real number of timesteps (img2img runs fewer than ``steps``)."""

    def __init__(self, progress: JobProgress, calls: int, estimate: int):
        self.progress = progress
        self.calls_left = calls
        self.estimate = estimate
        self.call_base = 0
        self.first = True
        self.skipped = False

    def begin_call(self) -> None:
        self.first = True
        self.call_base = self.progress.done_steps
        self.skipped = False

    def begin_image(self) -> None:
        """A new batch starts: a Skip pressed after the last one ended is dropped, as in
        A1111 (it skips the image being made, never a later one)."""
        self.progress.skip_event.clear()
        self.skipped = False

    def __call__(self, pipe, _i, _t, kwargs):
        if self.first:
            self.first = False
            self.calls_left -= 1
            n = int(getattr(pipe, "num_timesteps", 0) or self.estimate)
            self.progress.total_steps = self.call_base + n + self.calls_left * n
        every = self.progress.preview_every
        latents = kwargs.get("latents")
        if every and latents is not None and (self.progress.done_steps + 1) % every == 0:
            self.progress.preview = latents_to_preview(latents)
            self.progress.preview_step = self.progress.done_steps + 1
        self.progress.step()
        if self.progress.take_skip():
            # diffusers' own interrupt: the remaining steps of this call are passed over and
            # it returns the latents as they are now (A1111 keeps a skipped image so too)
            pipe._interrupt = True
            self.skipped = True
        return kwargs


def job_models(req: GenerationRequest, modes: tuple[str, ...],
               loras: list[tuple[str, float]], extra_samplers=None) -> JobModels:
    """What ``req`` needs from the model manager, asked for once per job.
    ``extra_samplers``: {name: make(config)} the extensions registered."""
    maker = (extra_samplers or {}).get(req.sampler)
    return JobModels(checkpoint=req.model, modes=modes, refiner=req.refiner,
                     refiner_switch_at=req.refiner_switch_at, vae=req.vae,
                     loras=tuple(loras),
                     controls=tuple(u.model for u in req.control_units),
                     make_scheduler=maker or (lambda config: make_scheduler(
                         req.sampler, config, req.scheduler)))


def prompts_and_loras(req: GenerationRequest):
    """(prompt, negative) with styles applied, the same without ``<lora:…>`` tags, and the
    LoRAs the tags select (the infotext keeps the tags, as A1111's does)."""
    prompt, negative = apply_style_texts(req.prompt, req.negative_prompt, req.style_texts)
    clean_prompt, loras = extract_lora_tags(prompt)
    clean_negative, neg_loras = extract_lora_tags(negative)
    return prompt, negative, clean_prompt, clean_negative, loras + neg_loras


def at_least_one_step(kwargs: dict, steps: int) -> None:
    """img2img-style calls whose steps x strength rounds to zero run one step at the lowest
    noise level, as AUTOMATIC1111 and ComfyUI do, instead of failing."""
    strength = kwargs.get("strength")
    if strength is not None and int(steps * strength) < 1:
        kwargs["strength"] = min(1.0, 1.0001 / steps)


def decode_latents(pipe, vae, latents: torch.Tensor, tile_above: int = 1536 * 1536):
    """Decode latents to PIL images with ``vae``.

    fp16 VAEs that overflow (SDXL's original VAE) are upcast as diffusers does; a result that
    still holds NaN/inf (a black image) is decoded again in float32. Images larger than
    ``tile_above`` pixels are decoded in tiles to bound memory.
    """
    height, width = latents.shape[-2] * 8, latents.shape[-1] * 8
    tiled = height * width > tile_above
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    images = _decode(vae, latents, upcast, tiled)
    if not torch.isfinite(images).all():
        log.warning("VAE decode gave NaN/inf; decoding again in float32")
        images = _decode(vae, latents, True, tiled)
    return pipe.image_processor.postprocess(images, output_type="pil")


def _decode(vae, latents: torch.Tensor, upcast: bool, tiled: bool) -> torch.Tensor:
    dtype = vae.dtype
    if upcast:
        vae.to(torch.float32)
    try:
        if tiled:
            vae.enable_tiling()
        z = latents.to(next(vae.post_quant_conv.parameters()).dtype)
        mean = getattr(vae.config, "latents_mean", None)
        std = getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:
            mean_t = torch.tensor(mean).view(1, -1, 1, 1).to(z)
            std_t = torch.tensor(std).view(1, -1, 1, 1).to(z)
            z = z * std_t / vae.config.scaling_factor + mean_t
        else:
            z = z / vae.config.scaling_factor
        with torch.inference_mode():
            return vae.decode(z, return_dict=False)[0].float()
    finally:
        if tiled:
            vae.disable_tiling()
        if upcast:
            vae.to(dtype)


def _with_ip_schedule(counter, control):
    """The step callback, which also sets each IP-Adapter's weight for the next step (its
    guidance window)."""
    def callback(pipe, i, t, kwargs):
        control.set_ip_scales(pipe, i + 1, int(getattr(pipe, "num_timesteps", 0) or 1))
        return counter(pipe, i, t, kwargs)
    return callback


def _drop_unaccepted(pipe, kwargs: dict) -> None:
    """diffusers' ControlNet img2img pipeline takes no ``denoising_end``: with a refiner the
    base pass then runs to the end (logged) rather than fail."""
    accepts = getattr(pipe, "_accepts", None)
    if accepts is None:
        return
    for key in [k for k in kwargs if k not in accepts]:
        log.warning("%s takes no %r; left out", type(pipe).__name__, key)
        kwargs.pop(key)


def run_job(manager, req: GenerationRequest, progress: JobProgress | None,
            spec: ModeSpec, bundle: JobBundle | None = None) -> GenerationResult:
    """Run ``batch_count`` batches of ``batch_size`` images of ``req`` in ``spec``'s mode.

    Image ``k`` of the job uses seed ``seed + k``, as A1111 does, each from its own CPU
    generator, so an image's pixels depend only on its seed and parameters. With a refiner
    the base denoises up to ``refiner_switch_at`` and hands its latents to the refiner,
    which finishes the same schedule (SDXL's ensemble of experts). The models come from one
    ``manager.prepare`` call, or from ``bundle`` when the caller holds one (hires fix).
    """
    if bundle is None:
        loras = prompts_and_loras(req)[4]
        with manager.prepare(job_models(req, (spec.pipeline,), loras,
                                           getattr(manager, "extra_samplers", None))) as bundle:
            return _run(bundle, req, progress, spec, manager)
    return _run(bundle, req, progress, spec, manager)


def _run(m: JobBundle, req: GenerationRequest, progress: JobProgress | None,
         spec: ModeSpec, manager=None) -> GenerationResult:
    progress = progress or JobProgress()
    started = time.monotonic()
    prompt, negative, clean_prompt, clean_negative, _ = prompts_and_loras(req)
    pipe = m.pipes[spec.pipeline]
    control = prepare_control(manager, m, req, req.width, req.height, spec.control_image,
                              spec.control_crop) if req.control_units else None
    if control is not None:
        pipe = control.pipeline(pipe, spec.pipeline)
    seed = resolve_seed(req.seed)
    result = GenerationResult(req, model_name=m.model_name, model_hash=m.model_hash,
                              seed=seed)
    if control is not None:
        result.control_maps = control.control_maps
    calls = req.batch_count * (2 if m.refiner else 1)
    counter = _StepCounter(progress, calls, req.steps)
    progress.start(req.steps * req.batch_count)
    width, height = spec.size or (req.width, req.height)
    try:
        for n in range(req.batch_count):
            seeds = [seed + n * req.batch_size + i for i in range(req.batch_size)]
            generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
            common = dict(num_inference_steps=req.steps, guidance_scale=req.cfg_scale,
                          generator=generators, callback_on_step_end=counter)
            kwargs = dict(common, output_type="latent")
            kwargs.update(prompt_kwargs(pipe, clean_prompt, clean_negative, req.batch_size,
                                        req.clip_skip))
            kwargs.update(spec.call_kwargs(req, seeds, pipe))
            at_least_one_step(kwargs, kwargs["num_inference_steps"])
            if m.refiner:
                kwargs["denoising_end"] = req.refiner_switch_at
            if control is not None:
                kwargs.update(control.call_kwargs(spec.pipeline))
                kwargs["callback_on_step_end"] = _with_ip_schedule(counter, control)
                control.set_ip_scales(pipe, 0, kwargs["num_inference_steps"])
                _drop_unaccepted(pipe, kwargs)
            counter.begin_image()
            counter.begin_call()
            with torch.inference_mode():
                latents = pipe(**kwargs).images
            if m.refiner and counter.skipped:  # a skipped image is not refined
                counter.calls_left -= 1
            elif m.refiner:
                rkwargs = dict(common, image=latents, output_type="latent",
                               denoising_start=req.refiner_switch_at)
                rkwargs.update(prompt_kwargs(m.refiner_pipe, clean_prompt, clean_negative,
                                             req.batch_size, req.clip_skip))
                counter.begin_call()
                with torch.inference_mode():
                    latents = m.refiner_pipe(**rkwargs).images
            images = decode_latents(pipe, m.vae, latents)
            for i, (img, s) in enumerate(zip(images, seeds)):
                if spec.postprocess is not None:
                    img = spec.postprocess(img, i)
                params = base_params(req, s, m.model_name, m.model_hash, i, width, height)
                params.update(m.params)
                params.update(spec.extra_params(req))
                if control is not None:
                    params.update(control.params())
                finish_params(params)
                text = format_infotext(prompt, negative, params)
                result.images.append(GeneratedImage(
                    img, s, text, params, latents=latents[i:i + 1].detach().to("cpu")))
    except Interrupted:
        log.info("%s interrupted after %d image(s)", req.mode, len(result.images))
        result.interrupted = True
    result.duration = time.monotonic() - started
    return result
