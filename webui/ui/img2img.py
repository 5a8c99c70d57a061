"""The img2img tab, and the ``/img2img`` API endpoint."""

from __future__ import annotations

import gradio as gr

from webui.choices import RESIZE_MODES
from webui.request import GenerationRequest
from webui.ui.image_modes import read_upload, run_with_notices, size_of_upload
from webui.ui.sendto import result_source
from webui.ui.widgets import (common_controls, none_if_unset, output_panel,
                               tab_fields, tab_header)


def build_img2img_tab(ctx):
    """Init image, denoising strength and resize mode on top of the common controls."""

    def img2img(prompt: str, image: str, negative_prompt: str | None = None, width: int = 1024,
                height: int = 1024, steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                denoising_strength: float = 0.75, resize_mode: str = "Just resize",
                styles: list[str] | None = None, model: str | None = None,
                refiner: str | None = None,
                refiner_switch_at: float = 0.8, vae: str | None = None,
                request: gr.Request = None, progress=gr.Progress()):
        """Generate variations of an image guided by a prompt (SDXL img2img).

        Returns the images, the first one's infotext and the seed used.
        """
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
            refiner=none_if_unset(refiner), refiner_switch_at=refiner_switch_at,
            vae=none_if_unset(vae),
            mode="img2img", init_image=read_upload(ctx, image, "image"),
            denoising_strength=denoising_strength, resize_mode=resize_mode,
            styles=list(styles or []),
        )
        yield from run_with_notices(ctx, req, request, progress)

    box, generate = tab_header(ctx, "img2img")
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"],
                             elem_id="img2img_image")
            resize_mode = gr.Radio(RESIZE_MODES, value="Just resize", label="Resize mode",
                                   elem_id="img2img_resize_mode")
            denoise = gr.Slider(0, 1, value=0.75, step=0.01, label="Denoising strength",
                                elem_id="img2img_denoising_strength")
            controls = common_controls(ctx, "img2img")
        with gr.Column():
            out = output_panel("img2img")
            send = result_source("img2img", out.gallery)

    image.upload(lambda p: size_of_upload(ctx, p), image, [controls.width, controls.height],
                 api_visibility="private", queue=False)
    generate.click(
        img2img, [box.prompt, image, box.negative, *controls.inputs(), denoise, resize_mode,
                  box.styles, controls.model,
                  *controls.model_inputs()],
        out.outputs(), api_name="img2img", concurrency_limit=None,
    )
    fields = tab_fields(box, controls, denoising_strength=denoise, image=image)
    return {"fields": fields, "send": send, "prompt": box.prompt, "negative": box.negative,
            "styles": box.styles,
            "controls": controls, "output": out, "image": image,
            "denoising_strength": denoise}
