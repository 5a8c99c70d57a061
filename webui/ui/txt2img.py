"""The txt2img tab (with Hires fix, styles and token counters), and the ``/txt2img`` API
endpoint that ``gradio_client`` calls."""

from __future__ import annotations

import gradio as gr

from webui.choices import HR_UPSCALERS
from webui.ui.controlnet_ui import controlnet_controls
from webui.ui.fieldmap import (TabParts, common_inputs, model_inputs, request_handler,
                               wire_generate)
from webui.ui.scripts import script_controls
from webui.ui.sendto import result_source, send_fields
from webui.ui.widgets import common_controls, output_panel, stream_for_caller, tab_header

TXT2IMG_DOC = """Generate images from a text prompt with SDXL.

With `enable_hr` (Hires fix) each image is upscaled by `hr_scale` ("Latent", "Lanczos",
"Nearest", "None" or an ESRGAN model of models/ESRGAN) and denoised again (`hr_steps`,
0 = same as steps). Returns the images (PNG files carrying
A1111 `parameters`), the infotext of the first image and the seed actually used (a random
one when seed is -1).
"""


def hr_upscaler_choices(ctx) -> list[str]:
    """Latent, then every upscaler of the app (resizers, ESRGAN models, extensions')."""
    registry = getattr(ctx, "upscalers", None)
    return ["Latent", *registry.names()] if registry is not None else list(HR_UPSCALERS)


def build_txt2img_tab(ctx) -> TabParts:
    """Build the tab's components and wire Generate/Stop to the job runner."""
    box, generate = tab_header(ctx, "txt2img")
    with gr.Row():
        with gr.Column():
            controls = common_controls(ctx, "txt2img")
            with gr.Accordion("Hires. fix", open=False):
                enable_hr = gr.Checkbox(False, label="Hires. fix", elem_id="txt2img_enable_hr")
                with gr.Row():
                    hr_upscaler = gr.Dropdown(hr_upscaler_choices(ctx), value="Latent",
                                              label="Upscaler", elem_id="txt2img_hr_upscaler")
                    # models/ESRGAN is read when the list opens (a model copied in is there)
                    hr_upscaler.focus(lambda: gr.update(choices=hr_upscaler_choices(ctx)),
                                      None, hr_upscaler, api_visibility="private",
                                      queue=False, show_progress="hidden")
                    hr_steps = gr.Slider(0, ctx.settings.limits.max_steps, value=0, step=1,
                                         label="Hires steps (0 = same as sampling steps)",
                                         elem_id="txt2img_hires_steps")
                with gr.Row():
                    hr_denoise = gr.Slider(0, 1, value=0.7, step=0.01,
                                           label="Denoising strength",
                                           elem_id="txt2img_denoising_strength")
                    hr_scale = gr.Slider(1, 4, value=2.0, step=0.05, label="Upscale by",
                                         elem_id="txt2img_hr_scale")
            controlnet = controlnet_controls(ctx, "txt2img")
            scripts = script_controls(ctx, "txt2img")
        with gr.Column():
            out = output_panel("txt2img")
            send = result_source("txt2img", out.gallery)

    inputs = {"prompt": box.prompt, "negative_prompt": box.negative,
              **common_inputs(controls), "model": controls.model, "styles": box.styles,
              "enable_hr": enable_hr, "hr_scale": hr_scale, "hr_upscaler": hr_upscaler,
              "hr_steps": hr_steps, "hr_denoising_strength": hr_denoise,
              **model_inputs(controls), **scripts, **controlnet}
    txt2img = request_handler(ctx, "txt2img", inputs, stream_for_caller, TXT2IMG_DOC)
    wire_generate(generate, txt2img, inputs, out, api_name="txt2img")
    return TabParts(inputs, send_fields(inputs), controls, send, out)
