"""The Inpaint tab (draw the mask on the image, or upload one) and the ``/inpaint`` endpoint.

The browser's drawing is a ``gr.ImageMask``: the mask is the alpha of the drawn layers. The
API takes ``image`` and ``mask`` files (white = repaint) through hidden inputs.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from webui.choices import INPAINT_AREAS, MASKED_CONTENTS, RESIZE_MODES
from webui.ui.controlnet_ui import controlnet_controls
from webui.ui.scripts import script_controls
from webui.ui.fieldmap import (TabParts, common_inputs, model_inputs, request_handler,
                               wire_generate)
from webui.ui.image_modes import check_uploads, readable_uploads
from webui.ui.sendto import result_source, send_fields
from webui.ui.widgets import common_controls, output_panel, stream_for_caller, tab_header

MASK_MODES = ["Inpaint masked", "Inpaint not masked"]
INPAINT_DOC = """Repaint the white part of `mask` in `image` (SDXL inpainting).

Pixels outside the blurred mask come back unchanged. Returns the images, the first one's
infotext and the seed used.
"""


def editor_parts(value) -> tuple[Image.Image | None, Image.Image | None]:
    """(background image, mask from the drawn layers' alpha) of an ImageMask value."""
    if not value:
        return None, None
    background = value.get("background")
    if isinstance(background, str):
        background = Image.open(background)
    mask = None
    for layer in value.get("layers") or []:
        if isinstance(layer, str):
            layer = Image.open(layer)
        if layer is None:
            continue
        alpha = np.asarray(layer.convert("RGBA").getchannel("A"))
        mask = alpha if mask is None else np.maximum(mask, alpha)
    if mask is not None and mask.max() > 0:
        mask = Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8), "L")
    else:
        mask = None
    return background, mask


def from_editor(values: dict) -> dict:
    """The page's inputs as the endpoint's: ``image`` is the drawing (its background, and
    the drawn layers as the mask unless none were drawn: then the uploaded ``mask``), and
    ``invert_mask`` the mask mode."""
    background, drawn = editor_parts(values["image"])
    if background is None:
        raise gr.Error("inpaint needs an image: upload one above", print_exception=False)
    return {**values, "image": background,
            "mask": drawn if drawn is not None else values["mask"],
            "invert_mask": values["invert_mask"] == MASK_MODES[1]}


def build_inpaint_tab(ctx) -> TabParts:
    """Mask drawing/upload, mask blur and mode, inpaint area, padding and masked content."""
    box, generate = tab_header(ctx, "inpaint")
    with gr.Row():
        with gr.Column():
            editor = readable_uploads(gr.ImageMask(
                label="Image (paint the area to repaint)", type="pil", image_mode="RGBA",
                format="png", sources=["upload", "clipboard"], elem_id="inpaint_editor"))
            mask_upload = readable_uploads(gr.Image(
                label="Or upload a mask (white = repaint)", type="filepath", sources=["upload"],
                height=160, elem_id="inpaint_mask_upload"))
            with gr.Row():
                blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur",
                                 elem_id="inpaint_mask_blur")
                mask_mode = gr.Radio(MASK_MODES, value=MASK_MODES[0], label="Mask mode",
                                     elem_id="inpaint_mask_mode")
            with gr.Row():
                content = gr.Radio(list(MASKED_CONTENTS), value="original",
                                   label="Masked content", elem_id="inpaint_masked_content")
                area = gr.Radio(list(INPAINT_AREAS), value="Whole picture", label="Inpaint area",
                                elem_id="inpaint_area")
                padding = gr.Slider(0, 256, value=32, step=4,
                                    label="Only masked padding, pixels",
                                    elem_id="inpaint_padding")
            resize_mode = gr.Radio(RESIZE_MODES, value="Just resize", label="Resize mode",
                                   elem_id="inpaint_resize_mode")
            denoise = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                elem_id="inpaint_denoising_strength")
            controls = common_controls(ctx, "inpaint")
            controlnet = controlnet_controls(ctx, "inpaint",
                                             (editor, lambda v: editor_parts(v)[0]))
            scripts = script_controls(ctx, "inpaint")
            # the API's inputs: files, not the drawing
            api_image = readable_uploads(gr.Image(label="image", type="filepath",
                                                  visible=False))
            api_mask = readable_uploads(gr.Image(label="mask", type="filepath", visible=False))
            api_invert = gr.Checkbox(False, visible=False)
            api_button = gr.Button(visible=False)
        with gr.Column():
            out = output_panel("inpaint")
            send = result_source("inpaint", out.gallery)

    def on_upload(value):
        background, _ = editor_parts(value)
        if background is None:
            return gr.update(), gr.update()
        limits = ctx.settings.limits
        fit = lambda v: min(max(v // 8 * 8, limits.min_size), limits.max_size)  # noqa: E731
        return fit(background.width), fit(background.height)

    check_uploads(ctx, mask_upload, what="Mask")
    editor.upload(on_upload, editor, [controls.width, controls.height],
                  api_visibility="private", queue=False)
    # the page's inputs; the endpoint takes files instead of the drawing
    inputs = {"prompt": box.prompt, "image": editor, "mask": mask_upload,
              "negative_prompt": box.negative, **common_inputs(controls),
              "denoising_strength": denoise, "mask_blur": blur, "inpaint_area": area,
              "inpaint_padding": padding, "masked_content": content,
              "invert_mask": mask_mode, "resize_mode": resize_mode, "styles": box.styles,
              "model": controls.model, **model_inputs(controls), **scripts, **controlnet}
    api_inputs = {**inputs, "image": api_image, "mask": api_mask, "invert_mask": api_invert}
    page = request_handler(ctx, "inpaint", inputs, stream_for_caller, INPAINT_DOC,
                           adapt=from_editor, name="from_editor")
    wire_generate(generate, page, inputs, out, api_visibility="private")
    inpaint = request_handler(ctx, "inpaint", api_inputs, stream_for_caller, INPAINT_DOC)
    wire_generate(api_button, inpaint, api_inputs, out, api_name="inpaint")
    return TabParts(inputs, send_fields(inputs), controls, send, out)
