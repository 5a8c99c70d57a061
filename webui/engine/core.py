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

from webui.engine.progress import Interrupted, JobProgress
from webui.engine.result import GeneratedImage, GenerationResult, base_params, finish_params
from webui.engine.samplers import make_scheduler
from webui.history.infotext import format_infotext
from webui.prompting.encode import prompt_kwargs
from webui.prompting.styles import apply_styles
from webui.request import GenerationRequest, resolve_seed

log = logging.getLogger(__name__)


@dataclass
class ModeSpec:
    """What one mode adds to the shared loop.

    pipeline: which diffusers pipeline family to call ("txt2img", "img2img", "inpaint").
    call_kwargs(req, seeds) -> extra pipeline kwargs (image, mask_image, strength, size...).
    extra_params(req) -> A1111 infotext keys written after the common ones.
    postprocess(image, index_in_batch) -> image (e.g. paste an inpainted crop back).
    size: the (width, height) recorded as ``Size`` (defaults to the request's).
    """

    pipeline: str
    call_kwargs: Callable[[GenerationRequest, list[int]], dict] = lambda req, seeds: {}
    extra_params: Callable[[GenerationRequest], dict] = lambda req: {}
    postprocess: Callable[[Image.Image, int], Image.Image] | None = None
    size: tuple[int, int] | None = None


class _StepCounter:
    """Feeds ``JobProgress`` from diffusers' step callback, correcting the total as each
    pipeline call reveals its real number of timesteps (img2img runs fewer than ``steps``)."""

    def __init__(self, progress: JobProgress, calls: int, estimate: int):
        self.progress = progress
        self.calls_left = calls
        self.estimate = estimate
        self.call_base = 0
        self.first = True

    def begin_call(self) -> None:
        self.first = True
        self.call_base = self.progress.done_steps

    def __call__(self, pipe, _i, _t, kwargs):
        if self.first:
            self.first = False
            self.calls_left -= 1
            n = int(getattr(pipe, "num_timesteps", 0) or self.estimate)
            self.progress.total_steps = self.call_base + n + self.calls_left * n
        self.progress.step()
        return kwargs


def run_job(manager, req: GenerationRequest, progress: JobProgress | None,
            spec: ModeSpec) -> GenerationResult:
    """Run ``batch_count`` batches of ``batch_size`` images of ``req`` in ``spec``'s mode.

    Image ``k`` of the job uses seed ``seed + k``, as A1111 does, each from its own CPU
    generator, so an image's pixels depend only on its seed and parameters.
    """
    progress = progress or JobProgress()
    started = time.monotonic()
    loaded = manager.pipeline(req.model)
    pipe = loaded.for_mode(spec.pipeline)
    seed = resolve_seed(req.seed)
    result = GenerationResult(req, model_name=loaded.info.name, model_hash=loaded.short_hash,
                              seed=seed)
    pipe.scheduler = make_scheduler(req.sampler, loaded.scheduler_config)
    prompt, negative = apply_styles(req.prompt, req.negative_prompt, req.styles)
    counter = _StepCounter(progress, req.batch_count, req.steps)
    progress.start(req.steps * req.batch_count)
    width, height = spec.size or (req.width, req.height)
    try:
        for n in range(req.batch_count):
            seeds = [seed + n * req.batch_size + i for i in range(req.batch_size)]
            generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
            kwargs = dict(num_inference_steps=req.steps, guidance_scale=req.cfg_scale,
                          generator=generators, callback_on_step_end=counter,
                          output_type="pil")
            kwargs.update(prompt_kwargs(pipe, prompt, negative, req.batch_size))
            kwargs.update(spec.call_kwargs(req, seeds))
            counter.begin_call()
            with torch.inference_mode():
                images = pipe(**kwargs).images
            for i, (img, s) in enumerate(zip(images, seeds)):
                if spec.postprocess is not None:
                    img = spec.postprocess(img, i)
                params = base_params(req, s, loaded.info.name, loaded.short_hash, i,
                                     width, height)
                params.update(spec.extra_params(req))
                finish_params(params)
                text = format_infotext(prompt, negative, params)
                result.images.append(GeneratedImage(img, s, text, params))
    except Interrupted:
        log.info("%s interrupted after %d image(s)", req.mode, len(result.images))
        result.interrupted = True
    result.duration = time.monotonic() - started
    return result
