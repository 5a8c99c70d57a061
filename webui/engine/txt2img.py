"""Text-to-image: one request in, images with their actual parameters out.

Knows nothing of Gradio, HTTP or SQL: it asks the model manager for a pipeline and calls it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch
from PIL import Image

from webui import __version__
from webui.engine.progress import Interrupted, JobProgress
from webui.engine.samplers import make_scheduler
from webui.history.infotext import format_infotext
from webui.models.manager import ModelManager
from webui.request import GenerationRequest, resolve_seed

log = logging.getLogger(__name__)


@dataclass
class GeneratedImage:
    """One image and the parameters that made it."""

    image: Image.Image
    seed: int
    infotext: str
    params: dict  # A1111 infotext keys -> values


@dataclass
class GenerationResult:
    """What a job produced; ``interrupted`` when Stop cut it short."""

    request: GenerationRequest
    images: list[GeneratedImage] = field(default_factory=list)
    model_name: str = ""
    model_hash: str = ""
    seed: int = 0
    duration: float = 0.0
    interrupted: bool = False


def _fmt_number(x: float) -> str:
    return f"{x:g}"


def infotext_params(req: GenerationRequest, seed: int, model_name: str, model_hash: str,
                    batch_pos: int) -> dict:
    """The A1111 parameter line for one image, in A1111's key order."""
    params = {
        "Steps": req.steps,
        "Sampler": req.sampler,
        "CFG scale": _fmt_number(req.cfg_scale),
        "Seed": seed,
        "Size": f"{req.width}x{req.height}",
        "Model hash": model_hash,
        "Model": model_name,
    }
    if req.batch_size > 1:
        params["Batch size"] = req.batch_size
        params["Batch pos"] = batch_pos
    params["Version"] = f"sdxl-webui {__version__}"
    return params


def run_txt2img(manager: ModelManager, req: GenerationRequest,
                progress: JobProgress | None = None) -> GenerationResult:
    """Generate ``batch_count`` batches of ``batch_size`` images for a validated ``req``.

    Image ``k`` of the job uses seed ``seed + k``, as A1111 does, each from its own CPU
    generator, so an image's pixels depend only on its seed and parameters.
    """
    progress = progress or JobProgress()
    started = time.monotonic()
    loaded = manager.pipeline(req.model)
    pipe = loaded.pipe
    seed = resolve_seed(req.seed)
    result = GenerationResult(req, model_name=loaded.info.name, model_hash=loaded.short_hash,
                              seed=seed)
    pipe.scheduler = make_scheduler(req.sampler, loaded.scheduler_config)
    pipe.scheduler.set_timesteps(req.steps)
    steps_per_batch = len(pipe.scheduler.timesteps)
    progress.start(steps_per_batch * req.batch_count)

    def on_step_end(_pipe, _i, _t, kwargs):
        progress.step()
        return kwargs

    try:
        for n in range(req.batch_count):
            seeds = [seed + n * req.batch_size + i for i in range(req.batch_size)]
            generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
            with torch.inference_mode():
                out = pipe(
                    prompt=[req.prompt] * req.batch_size,
                    negative_prompt=[req.negative_prompt] * req.batch_size,
                    width=req.width, height=req.height,
                    num_inference_steps=req.steps, guidance_scale=req.cfg_scale,
                    generator=generators, callback_on_step_end=on_step_end,
                    output_type="pil",
                )
            for i, (img, s) in enumerate(zip(out.images, seeds)):
                params = infotext_params(req, s, loaded.info.name, loaded.short_hash, i)
                text = format_infotext(req.prompt, req.negative_prompt, params)
                result.images.append(GeneratedImage(img, s, text, params))
    except Interrupted:
        log.info("txt2img interrupted after %d image(s)", len(result.images))
        result.interrupted = True
    result.duration = time.monotonic() - started
    return result
