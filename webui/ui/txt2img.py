"""The txt2img tab (with Hires fix, styles and token counters), and the ``/txt2img`` API
endpoint that ``gradio_client`` calls."""

from __future__ import annotations

import gradio as gr

from webui.choices import HR_UPSCALERS
from webui.request import GenerationRequest
from webui.ui.sendto import result_source
from webui.ui.widgets import (common_controls, none_if_unset, output_panel,
                               stream_for_caller, tab_fields, tab_header)


def build_txt2img_tab(ctx):
    """Build the tab's components and wire Generate/Stop to the job runner."""

    def txt2img(prompt: str, negative_prompt: str | None = None, width: int = 1024,
                height: int = 1024, steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                model: str | None = None, styles: list[str] | None = None,
                enable_hr: bool = False, hr_scale: float = 2.0, hr_upscaler: str = "Latent",
                hr_steps: int = 0, hr_denoising_strength: float = 0.7,
                refiner: str | None = None,
                refiner_switch_at: float = 0.8, vae: str | None = None,
                request: gr.Request = None, progress=gr.Progress()):
        """Generate images from a text prompt with SDXL.

        With `enable_hr` (Hires fix) each image is upscaled by `hr_scale` ("Latent" or
        "Lanczos") and denoised again (`hr_steps`, 0 = same as steps). Returns the images
        (PNG files carrying A1111 `parameters`), the infotext of the first image and the
        seed actually used (a random one when seed is -1).
        """
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
            refiner=none_if_unset(refiner), refiner_switch_at=refiner_switch_at,
            vae=none_if_unset(vae),
            styles=list(styles or []), enable_hr=bool(enable_hr), hr_scale=hr_scale,
            hr_upscaler=hr_upscaler, hr_steps=hr_steps,
            hr_denoising_strength=hr_denoising_strength,
        )
        yield from stream_for_caller(ctx, req, request, progress)

    box, generate = tab_header(ctx, "txt2img")
    with gr.Row():
        with gr.Column():
            controls = common_controls(ctx, "txt2img")
            with gr.Accordion("Hires. fix", open=False):
                enable_hr = gr.Checkbox(False, label="Hires. fix", elem_id="txt2img_enable_hr")
                with gr.Row():
                    hr_upscaler = gr.Dropdown(list(HR_UPSCALERS), value="Latent",
                                              label="Upscaler", elem_id="txt2img_hr_upscaler")
                    hr_steps = gr.Slider(0, ctx.settings.limits.max_steps, value=0, step=1,
                                         label="Hires steps (0 = same as sampling steps)",
                                         elem_id="txt2img_hires_steps")
                with gr.Row():
                    hr_denoise = gr.Slider(0, 1, value=0.7, step=0.01,
                                           label="Denoising strength",
                                           elem_id="txt2img_denoising_strength")
                    hr_scale = gr.Slider(1, 4, value=2.0, step=0.05, label="Upscale by",
                                         elem_id="txt2img_hr_scale")
        with gr.Column():
            out = output_panel("txt2img")
            send = result_source("txt2img", out.gallery)

    generate.click(
        txt2img, [box.prompt, box.negative, *controls.inputs(), controls.model, box.styles,
                  enable_hr, hr_scale, hr_upscaler, hr_steps, hr_denoise,
                  *controls.model_inputs()],
        out.outputs(), api_name="txt2img", concurrency_limit=None,
    )
    fields = tab_fields(box, controls, denoising_strength=hr_denoise)
    return {"fields": fields, "send": send, "prompt": box.prompt, "negative": box.negative,
            "styles": box.styles,
            "controls": controls, "output": out, "enable_hr": enable_hr, "hr_scale": hr_scale,
            "hr_upscaler": hr_upscaler, "hr_steps": hr_steps, "denoising_strength": hr_denoise}
