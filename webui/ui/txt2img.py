"""The txt2img tab, and the ``/txt2img`` API endpoint that ``gradio_client`` calls."""

from __future__ import annotations

import logging

import gradio as gr

from webui.engine.progress import JobProgress
from webui.engine.samplers import SAMPLER_NAMES
from webui.models.loader import ModelLoadError
from webui.models.registry import ModelNotFound
from webui.request import GenerationRequest, RequestError
from webui.ui.widgets import owner_of, size_row

log = logging.getLogger(__name__)

USER_ERRORS = (RequestError, ModelNotFound, ModelLoadError)


def build_txt2img_tab(ctx):
    """Build the tab's components and wire Generate/Stop to the job runner."""
    limits = ctx.settings.limits
    manager = ctx.manager

    def txt2img(prompt: str, negative_prompt: str | None = None, width: int = 1024, height: int = 1024,
                steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                model: str | None = None, request: gr.Request = None,
                progress=gr.Progress()):
        """Generate images from a text prompt with SDXL.

        Returns the images (PNG files carrying A1111 `parameters`), the infotext of the
        first image and the seed actually used (a random one when seed is -1).
        """
        owner = owner_of(request)
        job = JobProgress()
        job.listeners.append(
            lambda p: progress((p.done_steps, p.total_steps), desc=p.describe(), unit="steps"))
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
        )
        try:
            outcome = ctx.jobs.run(req, owner=owner, progress=job)
        except USER_ERRORS as exc:
            log.warning("txt2img refused: %s", exc)
            raise gr.Error(str(exc)) from None
        result = outcome.result
        gallery = [(str(s.path), f"seed {g.seed}") for s, g in zip(outcome.saved, result.images)]
        info = result.images[0].infotext if result.images else ""
        if result.interrupted:
            info = (info + "\n\n" if info else "") + (
                f"Stopped: {len(result.images)} image(s) finished before Stop.")
        return gallery, info, result.seed

    def stop(request: gr.Request = None):
        ctx.jobs.stop(owner_of(request))

    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, placeholder="a photo of a cat",
                                elem_id="txt2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2,
                                  elem_id="txt2img_negative_prompt")
        with gr.Column(scale=1):
            generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="txt2img_stop")
    with gr.Row():
        with gr.Column():
            names = manager.checkpoint_names()
            with gr.Row():
                model = gr.Dropdown(names, value=manager.selected_checkpoint(),
                                    label="Checkpoint", scale=4, allow_custom_value=True)
                refresh = gr.Button("Refresh", scale=1, min_width=60)
            no_model = gr.Markdown(
                "" if names else f"**{manager.no_model_message()}**", elem_id="no_model")
            _, width, height = size_row(limits)
            with gr.Row():
                sampler = gr.Dropdown(SAMPLER_NAMES, value="Euler a", label="Sampling method")
                steps = gr.Slider(1, limits.max_steps, value=20, step=1, label="Sampling steps")
            cfg = gr.Slider(0, limits.max_cfg, value=7.0, step=0.5, label="CFG Scale")
            with gr.Row():
                seed = gr.Number(-1, label="Seed (-1 = random)", precision=0)
                batch_count = gr.Slider(1, limits.max_batch_count, value=1, step=1,
                                        label="Batch count")
                batch_size = gr.Slider(1, limits.max_batch_size, value=1, step=1,
                                       label="Batch size")
        with gr.Column():
            gallery = gr.Gallery(label="Output", columns=2, height=512, format="png",
                                 elem_id="txt2img_gallery")
            used_seed = gr.Number(label="Seed used", precision=0, interactive=False)
            info = gr.Textbox(label="Generation parameters", lines=4, interactive=False,
                              elem_id="txt2img_info")

    def refresh_models():
        names = manager.checkpoint_names()
        message = "" if names else f"**{manager.no_model_message()}**"
        return gr.update(choices=names, value=manager.selected_checkpoint()), message

    refresh.click(refresh_models, None, [model, no_model], api_visibility="private")
    generate.click(
        txt2img,
        [prompt, negative, width, height, steps, cfg, seed, sampler, batch_size, batch_count,
         model],
        [gallery, info, used_seed],
        api_name="txt2img", concurrency_id="gpu", concurrency_limit=1,
    )
    stop_btn.click(stop, None, None, api_name="stop", queue=False)
    return {"prompt": prompt, "gallery": gallery, "model": model}
