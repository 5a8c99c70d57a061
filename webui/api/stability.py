"""Stability's REST v1 API: ``/v1/engines/list`` and ``/v1/generation/{engine_id}/...``.

Answers are ``{"artifacts": [{"base64", "seed", "finishReason"}]}`` (``CONTENT_FILTERED``
for a picture the output filter blurred or withheld, as Stability's), or with
``Accept: image/png`` the PNG itself with ``Seed`` and ``Finish-Reason`` headers; the prompt
policy's warnings come in a ``Prompt-Warnings`` header (a JSON list). Errors are
``{"id", "name", "message"}`` (see ``webui.api.common.error_body``); a prompt the policy
blocks is ``400 invalid_prompts``, as Stability answers a filtered prompt.
"""

from __future__ import annotations

import json
import logging
import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from webui.api import stability_adapter as adapter
from webui.api.common import ApiError, file_base64, open_image
from webui.caller import resolve_caller
from webui.engine.progress import JobProgress
from webui.policy import PromptBlocked
from webui.safety import CONTENT_FILTERED

log = logging.getLogger(__name__)

_PROMPT_KEY = re.compile(r"^text_prompts\[(\d+)\]\[(text|weight)\]$")
_FILE_FIELDS = ("init_image", "mask_image")
#: the prompt policy's warnings for a job that ran: a JSON list of strings (ASCII)
WARNINGS_HEADER = "Prompt-Warnings"


class Engine(BaseModel):
    id: str
    name: str
    description: str
    type: str = "PICTURE"


class Artifact(BaseModel):
    base64: str
    seed: int
    finishReason: str


class ArtifactsResponse(BaseModel):
    artifacts: list[Artifact]


def _multipart_schema(files: tuple[str, ...], model: type[BaseModel]) -> dict:
    props = {name: {"type": "string", "format": "binary"} for name in files}
    for name, field in model.model_fields.items():
        if name != "text_prompts":
            props[name] = {"type": "string"}
    props["text_prompts[0][text]"] = {"type": "string"}
    props["text_prompts[0][weight]"] = {"type": "number"}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props,
        "required": [files[0], "text_prompts[0][text]"]}}}}}


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts)


async def _read_form(request: Request, model: type[BaseModel]):
    """A multipart body -> (validated fields, {file field: image})."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise ApiError(400, "this endpoint takes multipart/form-data")
    try:
        form = await request.form(max_files=4, max_fields=200)
    except Exception as exc:  # malformed multipart
        raise ApiError(400, f"cannot read the multipart body: {exc}") from None
    values: dict = {}
    prompts: dict[int, dict] = {}
    images = {}
    for key, value in form.multi_items():
        if key in _FILE_FIELDS:
            data = await value.read() if hasattr(value, "read") else str(value).encode()
            images[key] = await run_in_threadpool(open_image, data, key)
        elif m := _PROMPT_KEY.match(key):
            prompts.setdefault(int(m.group(1)), {})[m.group(2)] = str(value)
        elif not hasattr(value, "read"):
            values[key] = str(value)
    values["text_prompts"] = [prompts[i] for i in sorted(prompts)]
    try:
        body = model.model_validate(values)
    except ValidationError as exc:
        raise ApiError(400, _validation_message(exc)) from None
    if "init_image" not in images:
        raise ApiError(400, "init_image is required (a PNG or JPEG file part)")
    return body, images


def stability_router(ctx, options) -> APIRouter:
    """Stability REST v1 routes."""
    r = APIRouter(prefix="/v1", tags=["Stability REST v1"])

    def answer(request: Request, req, samples: int):
        wants_png = "image/png" in request.headers.get("accept", "").lower()
        if wants_png and samples > 1:
            raise ApiError(400, "Accept: image/png answers with one image; ask for samples=1 "
                           "or accept application/json")
        try:
            outcome = ctx.jobs.run(req, owner=resolve_caller(ctx, request),
                                   progress=JobProgress())
        except PromptBlocked as exc:  # as Stability answers a filtered prompt
            raise ApiError(400, str(exc), "invalid_prompts") from None
        reason = "ERROR" if outcome.result.interrupted else "SUCCESS"

        def finish(gen) -> str:  # a picture the output filter blurred or withheld
            return CONTENT_FILTERED if getattr(gen, "filtered", "") else reason
        warned = outcome.result.request.policy_warnings
        headers = {WARNINGS_HEADER: json.dumps(list(warned))} if warned else {}
        pairs = list(zip(outcome.saved, outcome.result.images))
        if not pairs:
            raise ApiError(500, "the job was stopped before any image was finished",
                           "server_error")
        if wants_png:
            saved, gen = pairs[0]
            return Response(saved.path.read_bytes(), media_type="image/png",
                            headers={"Seed": str(gen.seed), "Finish-Reason": finish(gen),
                                     **headers})
        return JSONResponse({"artifacts": [{"base64": file_base64(s.path), "seed": g.seed,
                                            "finishReason": finish(g)} for s, g in pairs]},
                            headers=headers)

    @r.get("/engines/list", response_model=list[Engine])
    def engines_list():
        """The SDXL 1.0 engine (SDXL sizes only) and one engine per local checkpoint."""
        out = [{"id": adapter.SDXL_ENGINE, "name": "Stable Diffusion XL v1.0",
                "description": "SDXL 1.0 on this server's selected checkpoint "
                               f"({options.checkpoint() or 'none yet'})", "type": "PICTURE"}]
        out += [{"id": name, "name": name, "description": f"local checkpoint {name}",
                 "type": "PICTURE"} for name in ctx.manager.checkpoint_names()]
        return out

    @r.post("/generation/{engine_id}/text-to-image", response_model=ArtifactsResponse,
            responses={200: {"content": {"image/png": {}}}})
    def text_to_image(engine_id: str, body: adapter.TextToImageBody, request: Request):
        """Generate from text prompts (JSON body)."""
        req = adapter.text_to_image(engine_id, body, options)
        return answer(request, req, body.samples)

    @r.post("/generation/{engine_id}/image-to-image", response_model=ArtifactsResponse,
            responses={200: {"content": {"image/png": {}}}},
            openapi_extra=_multipart_schema(("init_image",), adapter.ImageToImageForm))
    async def image_to_image(engine_id: str, request: Request):
        """Generate from an init image and text prompts (multipart form)."""
        body, images = await _read_form(request, adapter.ImageToImageForm)
        req = adapter.image_to_image(engine_id, body, images["init_image"], options)
        return await run_in_threadpool(answer, request, req, body.samples)

    @r.post("/generation/{engine_id}/image-to-image/masking",
            response_model=ArtifactsResponse, responses={200: {"content": {"image/png": {}}}},
            openapi_extra=_multipart_schema(("init_image", "mask_image"),
                                            adapter.MaskingForm))
    async def masking(engine_id: str, request: Request):
        """Repaint the masked part of an init image (multipart form)."""
        body, images = await _read_form(request, adapter.MaskingForm)
        req = adapter.masking(engine_id, body, images["init_image"], images.get("mask_image"),
                              options)
        return await run_in_threadpool(answer, request, req, body.samples)

    return r
