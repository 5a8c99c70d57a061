"""Text-to-image: one request in, images with their actual parameters out.

Knows nothing of Gradio, HTTP or SQL: it asks the model manager for a pipeline and calls it.
"""

from __future__ import annotations

import logging
import time
import torch

from webui.engine.progress import Interrupted, JobProgress
from webui.engine.result import (GeneratedImage, GenerationResult, base_params,
                                 finish_params)
from webui.engine.samplers import make_scheduler
from webui.history.infotext import format_infotext
from webui.models.manager import ModelManager
from webui.request import GenerationRequest, resolve_seed

log = logging.getLogger(__name__)


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
                params = finish_params(base_params(req, s, loaded.info.name, loaded.short_hash, i))
                text = format_infotext(req.prompt, req.negative_prompt, params)
                result.images.append(GeneratedImage(img, s, text, params))
    except Interrupted:
        log.info("txt2img interrupted after %d image(s)", len(result.images))
        result.interrupted = True
    result.duration = time.monotonic() - started
    return result
