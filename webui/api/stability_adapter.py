"""Translate Stability REST v1 generation bodies into a ``GenerationRequest``.

Engines: ``stable-diffusion-xl-1024-v1-0`` runs the API's selected checkpoint and, like
Stability's, takes only SDXL's nine sizes; every local checkpoint is also an engine (its name
is the id) that takes any size the app allows.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field
from PIL import Image, ImageOps

from webui.api.catalog import resolve_checkpoint
from webui.api.common import ApiError
from webui.models.registry import ModelNotFound
from webui.request import SIZE_PRESETS, GenerationRequest

SDXL_ENGINE = "stable-diffusion-xl-1024-v1-0"
SDXL_SIZES = [f"{w}x{h}" for w, h in SIZE_PRESETS]
MAX_SAMPLES = 10
MAX_PROMPT = 2000
SAMPLERS = {
    "K_EULER": "Euler", "K_EULER_ANCESTRAL": "Euler a", "K_DPMPP_2M": "DPM++ 2M",
    "K_DPM_2": "DPM2", "K_DPM_2_ANCESTRAL": "DPM2 a", "K_HEUN": "Heun", "K_LMS": "LMS",
    "DDIM": "DDIM", "K_DPMPP_SDE": "DPM++ SDE Karras",
}
DEFAULT_SAMPLER = "DPM++ 2M Karras"
STYLE_PRESETS = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)
MASK_SOURCES = ("MASK_IMAGE_WHITE", "MASK_IMAGE_BLACK", "INIT_IMAGE_ALPHA")


class TextPrompt(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
    text: str = Field(max_length=MAX_PROMPT)
    weight: float | None = 1.0


class GenerationParams(BaseModel):
    """Fields every Stability generation endpoint takes."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    text_prompts: list[TextPrompt] = Field(min_length=1)
    cfg_scale: float = 7.0
    clip_guidance_preset: str | None = "NONE"
    sampler: str | None = None
    samples: int = 1
    seed: int = 0
    steps: int = 30
    style_preset: str | None = None
    extras: dict | None = None


class TextToImageBody(GenerationParams):
    """``POST /v1/generation/{engine_id}/text-to-image`` (JSON)."""

    height: int | None = None
    width: int | None = None


class ImageToImageForm(GenerationParams):
    """``/image-to-image`` multipart fields (``init_image`` is the file part)."""

    init_image_mode: str = "IMAGE_STRENGTH"
    image_strength: float = 0.35
    step_schedule_start: float = 0.65
    step_schedule_end: float | None = None


class MaskingForm(GenerationParams):
    """``/image-to-image/masking`` multipart fields (``init_image``, ``mask_image`` files)."""

    mask_source: str


def engine_checkpoint(engine_id: str, options) -> str | None:
    """The checkpoint an engine id runs; ``ApiError(404)`` for an unknown id."""
    if engine_id == SDXL_ENGINE:
        return options.checkpoint()
    try:
        return resolve_checkpoint(options.ctx.manager, engine_id).name
    except ModelNotFound:
        raise ApiError(404, f"engine {engine_id!r} not found; see /v1/engines/list",
                       "not_found") from None


def check_size(engine_id: str, width: int, height: int, what: str = "") -> None:
    """SDXL's nine sizes for the SDXL engine id (400 otherwise); others are checked later."""
    if engine_id == SDXL_ENGINE and f"{width}x{height}" not in SDXL_SIZES:
        raise ApiError(400, f"for the {SDXL_ENGINE} engine, {what}dimensions must be one of "
                       f"{', '.join(SDXL_SIZES)}; got {width}x{height}",
                       "invalid_sdxl_v222_dimensions")


def _prompt_text(prompts: list[tuple[str, float]]) -> str:
    parts = [t if math.isclose(w, 1.0) else f"({t}:{w:g})" for t, w in prompts]
    return ", ".join(parts)


def prompts(items: list[TextPrompt]) -> tuple[str, str]:
    """``text_prompts`` -> (prompt, negative prompt); a negative weight means negative."""
    pos = [(p.text.strip(), p.weight if p.weight is not None else 1.0) for p in items]
    positive = [(t, w) for t, w in pos if w > 0 and t]
    negative = [(t, -w) for t, w in pos if w < 0 and t]
    if not positive:
        raise ApiError(400, "text_prompts needs at least one non-empty prompt with a positive "
                       "weight")
    return _prompt_text(positive), _prompt_text(negative)


def _batches(samples: int, max_batch: int) -> tuple[int, int]:
    if not 1 <= samples <= MAX_SAMPLES:
        raise ApiError(400, f"samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    size = max(d for d in range(1, min(samples, max_batch) + 1) if samples % d == 0)
    return size, samples // size


def common_fields(engine_id: str, body: GenerationParams, options) -> dict:
    """GenerationRequest fields from the parameters every endpoint shares."""
    model = engine_checkpoint(engine_id, options)
    prompt, negative = prompts(body.text_prompts)
    if body.sampler is not None and body.sampler.upper() not in SAMPLERS:
        raise ApiError(400, f"sampler {body.sampler!r} is not available; choose one of: "
                       f"{', '.join(SAMPLERS)}")
    if body.style_preset is not None and body.style_preset not in STYLE_PRESETS:
        raise ApiError(400, f"style_preset must be one of: {', '.join(STYLE_PRESETS)}")
    if not 0 <= body.seed <= 4294967295:
        raise ApiError(400, f"seed must be between 0 and 4294967295, got {body.seed}")
    batch_size, batch_count = _batches(body.samples, options.ctx.settings.limits.max_batch_size)
    return dict(
        prompt=prompt, negative_prompt=negative, cfg_scale=body.cfg_scale, steps=body.steps,
        seed=body.seed or -1, model=model,
        sampler=SAMPLERS[body.sampler.upper()] if body.sampler else DEFAULT_SAMPLER,
        batch_size=batch_size, batch_count=batch_count, vae=options.vae(),
        styles=_styles(body.style_preset, options.ctx.styles),
        extra={"api": "stability", "engine_id": engine_id,
               **({"style_preset": body.style_preset} if body.style_preset else {})},
    )


def _styles(preset: str | None, library) -> list[str]:
    """A style preset applies the prompt style of the same name when the styles file has it
    (the shipped ``sdxl_styles.csv`` holds all 17); otherwise it is only recorded."""
    if not preset:
        return []
    return [preset] if preset in library.names() else []


def text_to_image(engine_id: str, body: TextToImageBody, options) -> GenerationRequest:
    """text-to-image body -> txt2img request (1024x1024 when no size is given)."""
    width, height = body.width or 1024, body.height or 1024
    check_size(engine_id, width, height)
    return GenerationRequest(**common_fields(engine_id, body, options), width=width,
                             height=height, mode="txt2img")


def image_to_image(engine_id: str, body: ImageToImageForm, init: Image.Image,
                   options) -> GenerationRequest:
    """image-to-image form -> img2img request at the init image's size."""
    mode = body.init_image_mode.upper()
    if mode == "IMAGE_STRENGTH":
        strength = body.image_strength
        if not 0 <= strength <= 1:
            raise ApiError(400, f"image_strength must be between 0 and 1, got {strength:g}")
        denoise = 1.0 - strength
    elif mode == "STEP_SCHEDULE":
        denoise = body.step_schedule_start
        if not 0 <= denoise <= 1:
            raise ApiError(400, f"step_schedule_start must be between 0 and 1, got {denoise:g}")
    else:
        raise ApiError(400, "init_image_mode must be IMAGE_STRENGTH or STEP_SCHEDULE")
    check_size(engine_id, *init.size, "init_image ")
    return GenerationRequest(**common_fields(engine_id, body, options), width=init.width,
                             height=init.height, mode="img2img",
                             init_image=init.convert("RGB"), denoising_strength=denoise)


def masking(engine_id: str, body: MaskingForm, init: Image.Image, mask: Image.Image | None,
            options) -> GenerationRequest:
    """image-to-image/masking form -> inpaint request; the mask is white = repaint."""
    source = body.mask_source.upper()
    if source not in MASK_SOURCES:
        raise ApiError(400, f"mask_source must be one of: {', '.join(MASK_SOURCES)}")
    if source == "INIT_IMAGE_ALPHA":
        if "A" not in init.getbands():
            raise ApiError(400, "mask_source INIT_IMAGE_ALPHA needs an init_image with an "
                           "alpha channel")
        mask = ImageOps.invert(init.getchannel("A"))  # transparent = repaint
    else:
        if mask is None:
            raise ApiError(400, f"mask_source {source} needs a mask_image")
        if mask.size != init.size:
            raise ApiError(400, f"mask_image is {mask.width}x{mask.height} but init_image is "
                           f"{init.width}x{init.height}; they must be the same size")
        mask = mask.convert("L")
        if source == "MASK_IMAGE_BLACK":
            mask = ImageOps.invert(mask)
    check_size(engine_id, *init.size, "init_image ")
    return GenerationRequest(**common_fields(engine_id, body, options), width=init.width,
                             height=init.height, mode="inpaint",
                             init_image=init.convert("RGB"), mask=mask,
                             denoising_strength=1.0, masked_content="original")
