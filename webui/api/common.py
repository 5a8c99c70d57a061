"""What both HTTP APIs share: errors, image decoding and a body size limit."""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from webui.caller import API_PREFIXES

log = logging.getLogger(__name__)

#: largest request body the API reads; a bigger one is refused with 413 before it is read
MAX_BODY_BYTES = 32 * 1024 * 1024
#: largest side of an uploaded image (it is resized to the request's size anyway)
MAX_IMAGE_SIDE = 8192

_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)


class ApiError(Exception):
    """An error answered to an API caller: HTTP ``status``, a plain ``message``, and a short
    machine-readable ``kind`` (Stability's error ``name``)."""

    def __init__(self, status: int, message: str, kind: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def decode_base64(data: str, what: str = "image") -> bytes:
    """Raw or data-URL base64 -> bytes; ``ApiError(400)`` when it is not base64."""
    if not isinstance(data, str) or not data.strip():
        raise ApiError(400, f"{what} is empty: send a base64-encoded PNG or JPEG")
    text = _DATA_URL.sub("", data.strip(), count=1)
    text = re.sub(r"\s+", "", text)
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{what} is not valid base64") from None


def open_image(data: bytes, what: str = "image") -> Image.Image:
    """Bytes -> a fully loaded PIL image; ``ApiError(400)`` for anything that is not a sane
    image (unreadable, truncated, or larger than :data:`MAX_IMAGE_SIDE` on a side)."""
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
            raise ApiError(400, f"{what} is {w}x{h}; at most {MAX_IMAGE_SIDE} pixels a side")
        img.load()
        img = ImageOps.exif_transpose(img)  # phone photos: use them the way they are shown
    except ApiError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError):
        raise ApiError(400, f"{what} is not a readable image (PNG, JPEG or WebP)") from None
    return img


def decode_image(data: str, what: str = "image") -> Image.Image:
    """A base64 image (raw, or a ``data:image/...;base64,`` URL) -> PIL image."""
    return open_image(decode_base64(data, what), what)


def file_base64(path: Path) -> str:
    """A saved file's bytes as raw base64 (no data-URL prefix), metadata chunks included."""
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def is_stability_path(path: str) -> bool:
    return path.startswith("/v1/")


class BodyLimitMiddleware:
    """Refuse API request bodies over ``limit`` bytes with 413, by header or while streaming,
    so a huge upload never reaches (or blocks) a worker."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_api_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0
        response_started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(scope, send)

    async def _refuse(self, scope, send):
        message = (f"request body is larger than {self.limit // (1024 * 1024)} MB; "
                   "send smaller images")
        body = json.dumps(error_body(scope.get("path", ""), 413, message, "payload_too_large"))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body.encode()})


class _BodyTooLarge(Exception):
    pass


def error_body(path: str, status: int, message: str, kind: str | None = None) -> dict:
    """The error JSON each API's clients expect: Stability's ``{"id","name","message"}`` under
    ``/v1/``, A1111's ``{"error","detail","body","errors"}`` elsewhere."""
    if is_stability_path(path):
        import uuid

        return {"id": uuid.uuid4().hex, "name": kind or _STABILITY_NAMES.get(status, "error"),
                "message": message}
    return {"error": kind or _A1111_NAMES.get(status, "HTTPException"), "detail": message,
            "body": "", "errors": message}


_STABILITY_NAMES = {400: "bad_request", 401: "unauthorized", 403: "permission_denied",
                    404: "not_found", 413: "payload_too_large", 429: "rate_limited",
                    500: "server_error", 503: "server_busy"}
_A1111_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                413: "PayloadTooLarge", 422: "ValidationError", 429: "TooManyRequests",
                500: "ServerError", 503: "ServiceUnavailable"}
