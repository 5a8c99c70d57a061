"""Image-to-image: the init image resized to the request's size (A1111's resize modes), then
denoised from ``denoising_strength`` by the shared loop."""

from __future__ import annotations

from webui.engine.core import ModeSpec, run_job
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult, fmt_number
from webui.imaging import resize_image
from webui.request import GenerationRequest


def styles_params(req: GenerationRequest) -> dict:
    """``Styles`` infotext key when styles were applied."""
    return {"Styles": ", ".join(req.styles)} if req.styles else {}


def run_img2img(manager, req: GenerationRequest,
                progress: JobProgress | None = None) -> GenerationResult:
    """Generate ``batch_count`` x ``batch_size`` variations of ``req.init_image``."""
    init = resize_image(req.resize_mode, req.init_image, req.width, req.height)

    def call_kwargs(r, seeds, pipe):
        return {"image": [init] * len(seeds), "strength": r.denoising_strength}

    def extra_params(r):
        params = {"Denoising strength": fmt_number(r.denoising_strength)}
        if r.resize_mode != "Just resize":
            params["Resize mode"] = r.resize_mode
        return {**params, **styles_params(r)}

    # ControlNet units without their own image control with the init image as resized
    spec = ModeSpec(pipeline="img2img", call_kwargs=call_kwargs, extra_params=extra_params,
                    control_image=init)
    return run_job(manager, req, progress, spec)
