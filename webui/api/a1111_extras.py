"""AUTOMATIC1111's Extras routes: ``POST /sdapi/v1/extra-single-image`` and
``/sdapi/v1/extra-batch-images`` (upscaling; A1111 v1.10's request and response shapes).

The body becomes an ``ExtrasRequest`` and goes to ``ctx.extras`` (the Extras tab's service): it
is checked before anything runs (400 with the reason; nothing written), waits its turn on the
device queue with generation, and its results are saved under ``outputs/extras-images``.
Face restoration fields (``gfpgan_visibility``, ``codeformer_*``) and ``upscale_first`` are
accepted and change nothing (this app has no face restorer).
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from webui.api.common import ApiError, decode_image, file_base64
from webui.caller import resolve_caller
from webui.upscaling.extras import ExtrasRequest, printable
from webui.upscaling.registry import DEFAULT_OVERLAP, DEFAULT_TILE

log = logging.getLogger(__name__)

_LENIENT = ConfigDict(extra="ignore", allow_inf_nan=False, populate_by_name=True)


class ExtrasBaseRequest(BaseModel):
    """A1111's ``ExtrasBaseRequest``: its fields, defaults and bounds."""

    model_config = _LENIENT

    resize_mode: Literal[0, 1] = Field(
        0, description="0: upscale by upscaling_resize; 1: to upscaling_resize_w x _h")
    show_extras_results: bool = Field(True, description="Return the pictures (always done)")
    gfpgan_visibility: float = Field(0, ge=0, le=1, description="Accepted; no face restorer")
    codeformer_visibility: float = Field(0, ge=0, le=1,
                                         description="Accepted; no face restorer")
    codeformer_weight: float = Field(0, ge=0, le=1, description="Accepted; no face restorer")
    upscaling_resize: float = Field(2, gt=0, description="Scale factor (resize_mode 0)")
    upscaling_resize_w: int = Field(512, ge=1, description="Target width (resize_mode 1)")
    upscaling_resize_h: int = Field(512, ge=1, description="Target height (resize_mode 1)")
    upscaling_crop: bool = Field(True, description="Crop to the target size (resize_mode 1)")
    upscaler_1: str = Field("None", description="Main upscaler (GET /sdapi/v1/upscalers)")
    upscaler_2: str = Field("None", description="Secondary upscaler, blended in")
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1,
                                                description="How much of upscaler 2 shows")
    upscale_first: bool = Field(False, description="Accepted; no face restorer")


class ExtrasSingleImageRequest(ExtrasBaseRequest):
    image: str = Field("", description="The picture: base64 (raw or data URL)")


class FileData(BaseModel):
    model_config = _LENIENT
    data: str = Field(description="Base64 of the file")
    name: str = Field(description="File name")


class ExtrasBatchImagesRequest(ExtrasBaseRequest):
    imageList: list[FileData] = Field(description="The pictures: [{data, name}]")


class ExtrasSingleImageResponse(BaseModel):
    html_info: str = Field(description="What was done, as an HTML paragraph")
    image: str | None = Field(None, description="The result: base64 PNG")


class ExtrasBatchImagesResponse(BaseModel):
    html_info: str
    images: list[str]


def _tile_option(options, key: str, default: int) -> int:
    """A1111's ``ESRGAN_tile`` / ``ESRGAN_tile_overlap`` from the API options (a value that is
    no whole number falls back to the default)."""
    value = options.value(key, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return default
    return value if value >= 0 else default


def extras_request(body: ExtrasBaseRequest, images, options) -> ExtrasRequest:
    return ExtrasRequest(
        images=images, resize_mode=body.resize_mode, scale=body.upscaling_resize,
        width=body.upscaling_resize_w, height=body.upscaling_resize_h,
        crop=body.upscaling_crop, upscaler_1=body.upscaler_1, upscaler_2=body.upscaler_2,
        upscaler_2_visibility=body.extras_upscaler_2_visibility,
        tile=_tile_option(options, "ESRGAN_tile", DEFAULT_TILE),
        overlap=_tile_option(options, "ESRGAN_tile_overlap", DEFAULT_OVERLAP))


def extras_router(ctx, options) -> APIRouter:
    r = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111"])

    def run(req: ExtrasRequest, request: Request):
        caller = resolve_caller(ctx, request)
        return ctx.extras.run(req, job_key=caller.job_key)

    @r.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    def extra_single_image(body: ExtrasSingleImageRequest, request: Request):
        """Upscale one picture (``upscaler_1``, optionally blended with ``upscaler_2``); the
        result is saved under ``outputs/extras-images`` and answered as base64 PNG."""
        image = decode_image(body.image, "image")
        result = run(extras_request(body, [(image, None)], options), request)
        return {"html_info": result.html_info, "image": file_base64(result.paths[0])}

    @r.post("/extra-batch-images", response_model=ExtrasBatchImagesResponse)
    def extra_batch_images(body: ExtrasBatchImagesRequest, request: Request):
        """Upscale several pictures (``imageList``: ``[{data, name}]``) alike, in one turn."""
        if not body.imageList:
            raise ApiError(400, "imageList is empty: send [{\"data\": <base64>, \"name\": ...}]")
        images = [(decode_image(f.data, f"imageList[{i}] ({printable(f.name)})"), f.name)
                  for i, f in enumerate(body.imageList)]
        result = run(extras_request(body, images, options), request)
        return {"html_info": result.html_info,
                "images": [file_base64(p) for p in result.paths]}

    return r
