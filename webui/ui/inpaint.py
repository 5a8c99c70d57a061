"""The Inpaint tab (draw the mask on the image, or upload one) and the ``/inpaint`` endpoint.

The browser's drawing is a ``gr.ImageMask``: the mask is the alpha of the drawn layers. The
API takes ``image`` and ``mask`` files (white = repaint) through hidden inputs.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from webui.choices import INPAINT_AREAS, MASKED_CONTENTS, RESIZE_MODES
from webui.request import GenerationRequest
from webui.ui.image_modes import read_upload, run_with_notices
from webui.ui.sendto import result_source
from webui.ui.widgets import (common_controls, none_if_unset, output_panel,
                               tab_fields, tab_header)

MASK_MODES = ["Inpaint masked", "Inpaint not masked"]


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


def build_inpaint_tab(ctx):
    """Mask drawing/upload, mask blur and mode, inpaint area, padding and masked content."""

    def inpaint(prompt: str, image: str, mask: str | None = None,
                negative_prompt: str | None = None, width: int = 1024, height: int = 1024,
                steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                denoising_strength: float = 0.75, mask_blur: int = 4,
                inpaint_area: str = "Whole picture", inpaint_padding: int = 32,
                masked_content: str = "original", invert_mask: bool = False,
                resize_mode: str = "Just resize", styles: list[str] | None = None,
                model: str | None = None, refiner: str | None = None,
                refiner_switch_at: float = 0.8, vae: str | None = None,
                request: gr.Request = None,
                progress=gr.Progress()):
        """Repaint the white part of `mask` in `image` (SDXL inpainting).

        Pixels outside the blurred mask come back unchanged. Returns the images, the first
        one's infotext and the seed used.
        """
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
            refiner=none_if_unset(refiner), refiner_switch_at=refiner_switch_at,
            vae=none_if_unset(vae),
            mode="inpaint", init_image=read_upload(ctx, image, "image"),
            mask=read_upload(ctx, mask, "mask"), denoising_strength=denoising_strength,
            mask_blur=mask_blur, inpaint_area=inpaint_area, inpaint_padding=inpaint_padding,
            masked_content=masked_content, invert_mask=bool(invert_mask),
            resize_mode=resize_mode, styles=list(styles or []),
        )
        yield from run_with_notices(ctx, req, request, progress)

    def from_editor(prompt, editor, mask_upload, negative, width, height, steps, cfg, seed,
                    sampler, batch_size, batch_count, denoise, blur, mask_mode, area, padding,
                    content, resize_mode, styles, model, refiner, refiner_switch_at, vae,
                    request: gr.Request = None, progress=gr.Progress()):
        background, drawn = editor_parts(editor)
        if background is None:
            raise gr.Error("inpaint needs an image: upload one above")
        yield from inpaint(prompt, background, drawn if drawn is not None else mask_upload,
                       negative, width, height, steps, cfg, seed, sampler, batch_size,
                       batch_count, denoise, blur, area, padding, content,
                       mask_mode == MASK_MODES[1], resize_mode, styles, model, refiner,
                       refiner_switch_at, vae, request, progress)

    box, generate = tab_header(ctx, "inpaint")
    with gr.Row():
        with gr.Column():
            editor = gr.ImageMask(label="Image (paint the area to repaint)", type="pil",
                                  image_mode="RGBA", format="png", sources=["upload", "clipboard"],
                                  elem_id="inpaint_editor")
            mask_upload = gr.Image(label="Or upload a mask (white = repaint)", type="filepath",
                                   sources=["upload"], height=160, elem_id="inpaint_mask_upload")
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
            # the API's inputs: files, not the drawing
            api_image = gr.Image(type="filepath", visible=False)
            api_mask = gr.Image(type="filepath", visible=False)
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

    editor.upload(on_upload, editor, [controls.width, controls.height],
                  api_visibility="private", queue=False)
    common = [*controls.inputs(), denoise, blur]
    generate.click(
        from_editor, [box.prompt, editor, mask_upload, box.negative, *common, mask_mode, area,
                      padding, content, resize_mode, box.styles, controls.model,
                  *controls.model_inputs()],
        out.outputs(), api_visibility="private", concurrency_limit=None,
    )
    api_button.click(
        inpaint, [box.prompt, api_image, api_mask, box.negative, *common, area, padding,
                  content, api_invert, resize_mode, box.styles, controls.model,
                  *controls.model_inputs()],
        out.outputs(), api_name="inpaint", concurrency_limit=None,
    )
    fields = tab_fields(box, controls, denoising_strength=denoise, image=editor)
    return {"fields": fields, "send": send, "prompt": box.prompt, "negative": box.negative,
            "styles": box.styles,
            "controls": controls, "output": out, "image": editor,
            "denoising_strength": denoise, "mask_blur": blur}
