"""The img2img tab, and the ``/img2img`` API endpoint."""

from __future__ import annotations

import gradio as gr

from webui.choices import RESIZE_MODES
from webui.ui.controlnet_ui import controlnet_controls
from webui.ui.scripts import script_controls
from webui.ui.fieldmap import (TabParts, common_inputs, model_inputs, request_handler,
                               wire_generate)
from webui.ui.image_modes import check_uploads, read_upload, readable_uploads
from webui.ui.sendto import result_source, send_fields
from webui.ui.widgets import common_controls, output_panel, stream_for_caller, tab_header

IMG2IMG_DOC = """Generate variations of an image guided by a prompt (SDXL img2img).

Returns the images, the first one's infotext and the seed used.
"""


def build_img2img_tab(ctx) -> TabParts:
    """Init image, denoising strength and resize mode on top of the common controls."""
    box, generate = tab_header(ctx, "img2img")
    with gr.Row():
        with gr.Column():
            image = readable_uploads(gr.Image(label="Image", type="filepath",
                                              sources=["upload", "clipboard"],
                                              elem_id="img2img_image"))
            resize_mode = gr.Radio(RESIZE_MODES, value="Just resize", label="Resize mode",
                                   elem_id="img2img_resize_mode")
            denoise = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                elem_id="img2img_denoising_strength")
            controls = common_controls(ctx, "img2img")
            controlnet = controlnet_controls(
                ctx, "img2img", (image, lambda v: read_upload(ctx, v, "image")))
            scripts = script_controls(ctx, "img2img")
        with gr.Column():
            out = output_panel("img2img")
            send = result_source("img2img", out.gallery)

    check_uploads(ctx, image, controls.width, controls.height)
    inputs = {"prompt": box.prompt, "image": image, "negative_prompt": box.negative,
              **common_inputs(controls), "denoising_strength": denoise,
              "resize_mode": resize_mode, "styles": box.styles, "model": controls.model,
              **model_inputs(controls), **scripts, **controlnet}
    img2img = request_handler(ctx, "img2img", inputs, stream_for_caller, IMG2IMG_DOC)
    wire_generate(generate, img2img, inputs, out, api_name="img2img")
    return TabParts(inputs, send_fields(inputs), controls, send, out)
