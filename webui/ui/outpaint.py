"""The Outpaint tab and the ``/outpaint`` endpoint: extend the canvas and paint the new area."""

from __future__ import annotations

import gradio as gr

from webui.request import GenerationRequest
from webui.ui.image_modes import read_upload, run_with_notices
from webui.ui.sendto import result_source
from webui.ui.widgets import (common_controls, none_if_unset, output_panel,
                               tab_fields, tab_header)

FILLS = {"edge extension": "fill", "noise": "latent noise"}


def build_outpaint_tab(ctx):
    """Pixels to add on each side (multiples of 8), fill of the new area, blur, denoise."""

    def outpaint(prompt: str, image: str, negative_prompt: str | None = None, left: int = 0,
                 right: int = 0, up: int = 0, down: int = 0, width: int = 1024,
                 height: int = 1024, steps: int = 20, cfg_scale: float = 7.0, seed: int = -1,
                 sampler: str = "Euler a", batch_size: int = 1, batch_count: int = 1,
                 denoising_strength: float = 0.9, mask_blur: int = 4,
                 fill: str = "edge extension", styles: list[str] | None = None,
                 model: str | None = None, refiner: str | None = None,
                refiner_switch_at: float = 0.8, vae: str | None = None,
                request: gr.Request = None,
                 progress=gr.Progress()):
        """Extend `image` by `left`/`right`/`up`/`down` pixels and paint the new area (SDXL).

        The result has the extended size (`width`/`height` are not used); the original
        outside a thin overlap band comes back unchanged.
        """
        if fill not in FILLS:
            raise gr.Error(f"unknown fill {fill!r}; choose one of: {', '.join(FILLS)}")
        req = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt or "", width=width, height=height,
            steps=steps, cfg_scale=cfg_scale, seed=seed, sampler=sampler,
            batch_size=batch_size, batch_count=batch_count, model=model or None,
            refiner=none_if_unset(refiner), refiner_switch_at=refiner_switch_at,
            vae=none_if_unset(vae),
            mode="outpaint", init_image=read_upload(ctx, image, "image"),
            outpaint_left=left, outpaint_right=right, outpaint_up=up, outpaint_down=down,
            denoising_strength=denoising_strength, mask_blur=mask_blur,
            masked_content=FILLS[fill], styles=list(styles or []),
        )
        yield from run_with_notices(ctx, req, request, progress)

    box, generate = tab_header(ctx, "outpaint")
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"],
                             elem_id="outpaint_image")
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
        with gr.Column():
            out = output_panel("outpaint")
            send = result_source("outpaint", out.gallery)

    generate.click(
        outpaint, [box.prompt, image, box.negative, *sides, *controls.inputs(), denoise, blur,
                   fill, box.styles, controls.model,
                  *controls.model_inputs()],
        out.outputs(), api_name="outpaint", concurrency_limit=None,
    )
    fields = tab_fields(box, controls, denoising_strength=denoise, image=image)
    return {"fields": fields, "send": send, "prompt": box.prompt, "negative": box.negative,
            "styles": box.styles,
            "controls": controls, "output": out, "image": image,
            "denoising_strength": denoise}
