"""The HTTP API: AUTOMATIC1111's ``/sdapi/v1`` and Stability's REST v1, as FastAPI routes.

Both are front doors onto the same job runner, model manager and history as the UI:
adapters turn their bodies into a ``GenerationRequest`` and hand it to ``ctx.jobs``.
``install_api(app, ctx)`` adds them to a FastAPI app (``webui.server.assembly`` builds it).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from webui.api.a1111 import a1111_router
from webui.api.a1111_extras import extras_router
from webui.api.a1111_lists import lists_router
from webui.api.controlnet import controlnet_router
from webui.api.common import ApiError, BodyLimitMiddleware, error_body, is_stability_path
from webui.api.options import ApiOptions
from webui.api.provenance import provenance_router
from webui.api.stability import stability_router
from webui.api.training import training_router
from webui.extensions.host import ScriptArgsError
from webui.models.loader import ModelLoadError
from webui.models.registry import ModelNotFound
from webui.queue import QueueFull
from webui.ratelimit import RateLimited
from webui.request import RequestError

log = logging.getLogger(__name__)


def _error(request: Request, status: int, message: str, kind: str | None = None):
    return JSONResponse(error_body(request.url.path, status, message, kind), status_code=status)


def _validation_text(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        parts.append(f"{'.'.join(loc)}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request body"


def install_error_handlers(app: FastAPI) -> None:
    """Plain-message errors in each API's own shape; user mistakes are 4xx, never 500."""

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError):
        return _error(request, exc.status, exc.message, exc.kind)

    @app.exception_handler(ScriptArgsError)
    async def on_script_args(request: Request, exc: ScriptArgsError):
        # a script's arguments that do not fit its model: 422 naming the field, as
        # FastAPI answers a body of the wrong shape
        detail = exc.errors or [{"loc": ["script_args"], "msg": str(exc),
                                 "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail, "error": str(exc)})

    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, exc: RequestError):
        log.warning("%s refused: %s", request.url.path, exc)  # one line, no traceback
        return _error(request, 400, str(exc))

    @app.exception_handler(QueueFull)
    async def on_queue_full(request: Request, exc: QueueFull):
        return _error(request, 503, str(exc))  # "The queue is full ...; try again ..."

    @app.exception_handler(RateLimited)
    async def on_rate_limited(request: Request, exc: RateLimited):
        return _error(request, 429, str(exc))

    @app.exception_handler(ModelNotFound)
    async def on_model_not_found(request: Request, exc: ModelNotFound):
        log.warning("%s refused: %s", request.url.path, exc)
        return _error(request, 404, str(exc), "not_found" if is_stability_path(
            request.url.path) else "ModelNotFound")

    @app.exception_handler(ModelLoadError)
    async def on_model_load_error(request: Request, exc: ModelLoadError):
        log.warning("model load refused: %s", exc)  # the chosen model cannot run this job
        return _error(request, 400, str(exc), "bad_request" if is_stability_path(
            request.url.path) else "ModelLoadError")

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        if is_stability_path(request.url.path):
            return _error(request, 400, _validation_text(exc))
        # FastAPI's own handler echoes each bad input, which JSON cannot always carry
        # (NaN, 1e400, unpaired surrogates): report the errors without their inputs
        detail = [{k: v for k, v in err.items() if k not in ("input", "ctx", "url")}
                  for err in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        if is_stability_path(request.url.path):
            return _error(request, exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)


def install_api(app: FastAPI, ctx) -> ApiOptions:
    """Add both APIs' routes, error handlers and the body size limit to ``app``."""
    options = ApiOptions(ctx)
    app.include_router(a1111_router(ctx, options))
    app.include_router(lists_router(ctx))
    app.include_router(extras_router(ctx, options))
    app.include_router(stability_router(ctx, options))
    app.include_router(training_router(ctx))
    app.include_router(controlnet_router(ctx))  # sd-webui-controlnet's /controlnet/*
    app.include_router(provenance_router(ctx))  # /sdapi/v1/check-image
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    install_api_auth(app, ctx)
    app.state.api_options = options
    return options


def install_api_auth(app: FastAPI, ctx) -> None:
    """Ask every API caller for credentials when any are configured (``webui.api.security``):
    ``ctx.api_credentials``."""
    from webui.api.security import ApiAuthMiddleware

    creds = ctx.api_credentials
    if creds.enabled:
        app.add_middleware(ApiAuthMiddleware, credentials=creds)


__all__ = ["install_api", "ApiOptions", "ApiError"]
