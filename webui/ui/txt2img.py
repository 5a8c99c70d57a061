"""The txt2img tab, and the ``/txt2img`` API endpoint that ``gradio_client`` calls."""

from __future__ import annotations

import gradio as gr

from webui.request import GenerationRequest
from webui.ui.widgets import common_controls, output_panel, run_for_caller, stop_button


def build_txt2img_tab(ctx):
    """Build the tab's components and wire Generate/Stop to the job runner."""

    def txt2img(prompt: str, negative_prompt: str | None = None, width: int = 1024,
                height: int = 1024, steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                model: str | None = None, request: gr.Request = None,
                progress=gr.Progress()):
        """Generate images from a text prompt with SDXL.

        Returns the images (PNG files carrying A1111 `parameters`), the infotext of the
        first image and the seed actually used (a random one when seed is -1).
        """
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
        )
        return run_for_caller(ctx, req, request, progress)

    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, placeholder="a photo of a cat",
                                elem_id="txt2img_prompt")
            negative = gr.Textbox(label="Negative prompt", lines=2,
                                  elem_id="txt2img_negative_prompt")
        with gr.Column(scale=1):
            generate = gr.Button("Generate", variant="primary", elem_id="txt2img_generate")
            stop_button(ctx, "txt2img")
    with gr.Row():
        with gr.Column():
            controls = common_controls(ctx, "txt2img")
        with gr.Column():
            out = output_panel("txt2img")

    generate.click(
        txt2img, [prompt, negative, *controls.inputs(), controls.model], out.outputs(),
        api_name="txt2img", concurrency_id="gpu", concurrency_limit=1,
    )
    return {"prompt": prompt, "negative": negative, "controls": controls, "output": out}
