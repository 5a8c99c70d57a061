"""AUTOMATIC1111's ``/sdapi/v1`` generation endpoints: txt2img, img2img, progress, interrupt,
skip, options and png-info. Lists (samplers, models, ...) are in ``a1111_lists``.

Jobs go through ``ctx.jobs`` (the queue the UI uses) as the caller's own jobs; ``progress``,
``interrupt`` and ``skip`` see and stop only those.
"""

from __future__ import annotations

import base64
import io

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Request
from PIL import Image

from webui.api import a1111_adapter as adapter
from webui.api.a1111_models import (ImageResponse, Img2ImgRequest, PNGInfoRequest,
                                    PNGInfoResponse, ProgressResponse, Txt2ImgRequest)
from webui.api.common import ApiError, decode_base64, file_base64, open_image
from webui.api.controlnet import detected_maps_base64
from webui.caller import Caller, resolve_caller
from webui.engine.progress import JobProgress
from webui.metadata.infotext import parse_infotext
from webui.metadata.pnginfo import read_generation_info
from webui.policy import PromptBlocked
from webui.user_settings import preview_interval

log = logging.getLogger(__name__)

PREFIX = "/sdapi/v1"


def _respond(ctx, req, body, owner: Caller, exclude: set[str] | None = None) -> dict:
    # live previews for /progress's current_image, as often as the Settings tab says
    try:
        outcome = ctx.jobs.run(req, owner=owner,
                               progress=JobProgress(preview_every=preview_interval(ctx)))
    except PromptBlocked as exc:  # 400 with the rule's message, named for what it is
        raise ApiError(400, str(exc), "PromptBlocked") from None
    result = outcome.result
    images = [file_base64(s.path) for s in outcome.saved] if body.send_images is not False else []
    if body.send_images is not False:  # after the pictures, as sd-webui-controlnet adds them
        images += detected_maps_base64(result, req)
    return {"images": images, "parameters": body.model_dump(exclude=exclude or set()),
            "info": adapter.info_json(result, req)}


def _preview_base64(job) -> str | None:
    if job.preview is None:
        return None
    buf = io.BytesIO()
    job.preview.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _progress(ctx, owner: Caller, skip_current_image: bool = False) -> dict:
    job = ctx.jobs.progress_of(owner)
    state = {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
             "job_count": 0, "job_timestamp": "0", "job_no": 0, "sampling_step": 0,
             "sampling_steps": 0}
    if job is None:
        return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None,
                "textinfo": None}
    state.update(interrupted=job.stopped, skipped=job.skip_event.is_set(), job="generate",
                 job_count=1,
                 job_timestamp=datetime.now().strftime("%Y%m%d%H%M%S"),
                 sampling_step=job.done_steps, sampling_steps=job.total_steps)
    current = None if skip_current_image else _preview_base64(job)
    return {"progress": round(job.fraction, 4), "eta_relative": round(job.eta_seconds or 0.0, 2),
            "state": state, "current_image": current,
            "textinfo": job.describe() if job.total_steps else "Waiting in the queue..."}


def _png_info(image: Image.Image) -> dict:
    info = read_generation_info(image)
    items = {k: v for k, v in image.info.items()
             if isinstance(k, str) and isinstance(v, str) and k != "parameters"}
    if info is None:
        return {"info": "", "items": items, "parameters": {}}
    text = info.raw if info.source in ("a1111", "forge", "sdnext") and info.raw else \
        info.infotext()
    parsed = parse_infotext(text)
    params: dict[str, Any] = {"Prompt": parsed["prompt"],
                              "Negative prompt": parsed["negative_prompt"], **parsed["params"]}
    size = str(params.get("Size", ""))
    if "x" in size:
        params["Size-1"], params["Size-2"] = size.split("x", 1)
    return {"info": text, "items": items, "parameters": params}


def a1111_router(ctx, options) -> APIRouter:
    """The generation, progress, options and png-info routes of ``/sdapi/v1``."""
    r = APIRouter(prefix=PREFIX, tags=["AUTOMATIC1111"])

    @r.post("/txt2img", response_model=ImageResponse)
    def txt2img(body: Txt2ImgRequest, request: Request):
        """Generate from text. Images are raw base64 PNGs carrying their infotext."""
        req = adapter.txt2img_request(body, options)
        return _respond(ctx, req, body, resolve_caller(ctx, request))

    @r.post("/img2img", response_model=ImageResponse)
    def img2img(body: Img2ImgRequest, request: Request):
        """Generate from ``init_images[0]``; with ``mask``, inpaint (white = repaint)."""
        req = adapter.img2img_request(body, options)
        exclude = set() if body.include_init_images else {"init_images", "mask"}
        return _respond(ctx, req, body, resolve_caller(ctx, request), exclude)

    @r.get("/progress", response_model=ProgressResponse)
    def progress(request: Request, skip_current_image: bool = False):
        """Progress of the caller's own running job (zero when it has none)."""
        return _progress(ctx, resolve_caller(ctx, request), skip_current_image)

    @r.post("/interrupt")
    def interrupt(request: Request):
        """Stop the caller's own job; finished images are kept. Nobody else's job stops."""
        ctx.jobs.stop(resolve_caller(ctx, request))
        return {}

    @r.post("/skip")
    def skip(request: Request):
        """Skip the image the caller's own job is making (kept as it is now, as A1111 keeps
        it); the job goes on with the next one. Nobody else's job is touched."""
        ctx.jobs.skip(resolve_caller(ctx, request))
        return {}

    @r.get("/options")
    def get_options() -> dict[str, Any]:
        """The settings dict; ``sd_model_checkpoint`` is the checkpoint API jobs use."""
        return options.get()

    @r.post("/options")
    def set_options(request: Request, changes: dict[str, Any] = Body(...)):
        """Change settings (a part or the whole dict). ``sd_model_checkpoint`` takes a title,
        name or file name and is loaded before this answers (404 unknown name, 400 with the
        loader's reason when it cannot load; the previous one stays); unknown keys are kept."""
        options.update(changes, owner=resolve_caller(ctx, request).job_key)
        return None

    @r.post("/png-info", response_model=PNGInfoResponse)
    def png_info(body: PNGInfoRequest):
        """Generation parameters stored in an image (A1111, ComfyUI, Fooocus, ...)."""
        return _png_info(open_image(decode_base64(body.image, "image"), "image"))

    return r
