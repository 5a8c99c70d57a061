"""``POST /sdapi/v1/check-image``: where a picture came from, as this app can tell: SDXL's
invisible watermark (bits read back), the XMP "made with AI" label and the C2PA manifest.
The PNG Info tab's "Check image" panel shows the same report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from webui.api.common import ApiError, decode_base64, open_image
from webui.provenance import check_image

PREFIX = "/sdapi/v1"


class CheckImageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image: str = Field(description="A base64 image (raw or data URL): PNG, JPEG or WebP.")


class WatermarkReport(BaseModel):
    bits_matched: int = Field(description="Bits of SDXL's 48-bit watermark read back")
    of: int = Field(48, description="Bits in the message")
    found: bool = Field(description="At least 36 of 48 match (Stability's 'very likely')")
    text: str = Field("", description='"SDXL watermark: 48/48 bits (found)"')
    reason: str | None = Field(None, description="Why nothing could be read, if so")


class CheckImageResponse(BaseModel):
    format: str
    size: str
    watermark: WatermarkReport
    labels: dict[str, Any] = Field(description="XMP: digital_source_type, ai_generated, "
                                                "software, model, model_hash")
    c2pa: dict[str, Any] = Field(description="present, validation_state (Valid, Trusted, "
                                              "Invalid), valid, errors, actions, "
                                              "digital_source_type, software_agent, model, "
                                              "model_hash, signer")


def provenance_router(ctx) -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["Watermark and provenance"])

    @r.post("/check-image", response_model=CheckImageResponse)
    async def check(body: CheckImageRequest):
        """Read SDXL's invisible watermark, the XMP provenance label and any C2PA manifest
        of an image (the file's own bytes: send the file, not a re-encoded copy)."""
        data = decode_base64(body.image, "image")
        open_image(data, "image")  # 400 for what is not a picture, or one too large
        try:
            return await run_in_threadpool(check_image, data)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    return r
