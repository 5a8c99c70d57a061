"""The Outpaint tab and the ``/outpaint`` endpoint: extend the canvas and paint the new area."""

from __future__ import annotations

import gradio as gr

from webui.ui.scripts import script_controls
from webui.ui.fieldmap import (TabParts, common_inputs, model_inputs, request_handler,
                               wire_generate)
from webui.ui.image_modes import check_uploads, readable_uploads
from webui.ui.sendto import result_source, send_fields
from webui.ui.widgets import common_controls, output_panel, stream_for_caller, tab_header

#: the ``fill`` keyword's choices -> ``GenerationRequest.masked_content``
FILLS = {"edge extension": "fill", "noise": "latent noise"}
OUTPAINT_DOC = """Extend `image` by `left`/`right`/`up`/`down` pixels and paint the new area (SDXL).

The result has the extended size (`width`/`height` are not used); the original outside a
thin overlap band comes back unchanged.
"""


def fill_to_content(values: dict) -> dict:
    """``fill`` ("edge extension" / "noise") as the masked content it stands for."""
    fill = values.get("fill")
    if fill not in FILLS:
        raise gr.Error(f"unknown fill {fill!r}; choose one of: {', '.join(FILLS)}",
                       print_exception=False)
    return {**values, "fill": FILLS[fill]}


def build_outpaint_tab(ctx) -> TabParts:
    """Pixels to add on each side (multiples of 8), fill of the new area, blur, denoise."""
    box, generate = tab_header(ctx, "outpaint")
    with gr.Row():
        with gr.Column():
            image = readable_uploads(gr.Image(label="Image", type="filepath",
                                              sources=["upload", "clipboard"],
                                              elem_id="outpaint_image"))
            with gr.Row():
                sides = [gr.Slider(0, 1024, value=v, step=8, label=f"{name} (px)",
                                   elem_id=f"outpaint_{name.lower()}")
                         for name, v in (("Left", 0), ("Right", 128), ("Up", 0), ("Down", 0))]
            with gr.Row():
                fill = gr.Radio(list(FILLS), value="edge extension", label="Fill new area with",
                                elem_id="outpaint_fill")
                blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur",
                                 elem_id="outpaint_mask_blur")
            denoise = gr.Slider(0, 1, value=0.9, step=0.01, label="Denoising strength",
                                elem_id="outpaint_denoising_strength")
            controls = common_controls(ctx, "outpaint", with_size=False)
            scripts = script_controls(ctx, "outpaint")
        with gr.Column():
            out = output_panel("outpaint")
            send = result_source("outpaint", out.gallery)

    check_uploads(ctx, image)
    left, right, up, down = sides
    inputs = {"prompt": box.prompt, "image": image, "negative_prompt": box.negative,
              "left": left, "right": right, "up": up, "down": down,
              **common_inputs(controls), "denoising_strength": denoise, "mask_blur": blur,
              "fill": fill, "styles": box.styles, "model": controls.model,
              **model_inputs(controls), **scripts}
    outpaint = request_handler(ctx, "outpaint", inputs, stream_for_caller, OUTPAINT_DOC,
                               adapt=fill_to_content)
    wire_generate(generate, outpaint, inputs, out, api_name="outpaint")
    return TabParts(inputs, send_fields(inputs), controls, send, out)
