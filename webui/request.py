"""``GenerationRequest``: the one request type that the UI and the APIs hand to the engine.

It is validated in one place (``validate``) so every front door rejects the same bad input
with the same words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields

from PIL import Image

from webui import imaging
from webui.choices import (
    HR_UPSCALERS,
    INPAINT_AREAS,
    MASKED_CONTENTS,
    MODES,
    RESIZE_MODES,
    SAMPLER_NAMES,
)
from webui.config import Limits
from webui.errors import RequestError  # defined low so that webui.imaging can raise it too
from webui.prompting.styles import SHIPPED_STYLES, StyleLibrary

MAX_SEED = 2**32 - 1

SIZE_PRESETS: list[tuple[int, int]] = [
    (1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216),
    (1344, 768), (768, 1344), (1536, 640), (640, 1536),
]


@dataclass
class GenerationRequest:
    """Every parameter of one generation job (one or more images)."""

    prompt: str
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = -1
    sampler: str = "Euler a"
    batch_size: int = 1
    batch_count: int = 1
    model: str | None = None
    mode: str = "txt2img"  # txt2img | img2img | inpaint | outpaint
    # -- model manager: refiner and VAE override (LoRAs come from <lora:name:w> in the prompt)
    refiner: str | None = None
    refiner_switch_at: float = 0.8
    vae: str | None = None
    styles: list[str] = field(default_factory=list)
    # filled by ``validate`` from the app's styles file: (prompt, negative) templates of
    # ``styles`` in order, applied by the engine
    style_texts: list[tuple[str, str]] = field(default_factory=list)
    # -- img2img / inpaint / outpaint
    init_image: Image.Image | None = None
    denoising_strength: float = 0.75
    resize_mode: str = "Just resize"  # | "Crop and resize" | "Resize and fill"
    mask: Image.Image | None = None  # white = repaint
    mask_blur: int = 4
    inpaint_area: str = "Whole picture"  # | "Only masked"
    inpaint_padding: int = 32
    masked_content: str = "original"  # | "fill" | "latent noise"
    invert_mask: bool = False
    outpaint_left: int = 0
    outpaint_right: int = 0
    outpaint_up: int = 0
    outpaint_down: int = 0
    # -- hires fix (txt2img)
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str = "Latent"
    hr_steps: int = 0  # 0 = same as steps
    hr_denoising_strength: float = 0.7
    # -- anything else a front door wants recorded
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """All fields except images (for logs and records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not isinstance(getattr(self, f.name), Image.Image)}


def _as_int(name: str, value) -> int:
    if isinstance(value, bool):
        raise RequestError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise RequestError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a whole number, got {value!r}") from None


def _as_float(name: str, value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a number, got {value!r}") from None
    if out != out:  # NaN
        raise RequestError(f"{name} must be a number, got {value!r}")
    return out


def validate(req: GenerationRequest, limits: Limits,
             styles: StyleLibrary | None = None) -> GenerationRequest:
    """Check and normalise ``req`` in place; raise ``RequestError`` with a clear message.
    Style names are checked against ``styles`` (the app's styles file; None: the shipped
    presets) and resolved into ``req.style_texts``."""
    if req.prompt is None or not isinstance(req.prompt, str):
        raise RequestError("prompt must be text")
    req.negative_prompt = req.negative_prompt or ""
    if not isinstance(req.negative_prompt, str):
        raise RequestError("negative prompt must be text")
    for name, text in (("prompt", req.prompt), ("negative prompt", req.negative_prompt)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{name} contains characters that are not valid text "
                               "(unpaired surrogates)") from None
    # an oversize upload is the first thing to say (its size may also be the job's size)
    for what, img in (("image", req.init_image), ("mask", req.mask)):
        if isinstance(img, Image.Image) and img.width * img.height > limits.max_image_pixels:
            raise RequestError(
                f"the {what} is {img.width}x{img.height} = {img.width * img.height} pixels, "
                f"above the limit of {limits.max_image_pixels} (--max-image-pixels)")
    req.width = _as_int("width", req.width)
    req.height = _as_int("height", req.height)
    for name, v in (("width", req.width), ("height", req.height)):
        if v % 8:
            raise RequestError(f"{name} must be a multiple of 8, got {v}")
        if not limits.min_size <= v <= limits.max_size:
            raise RequestError(
                f"{name} must be between {limits.min_size} and {limits.max_size}, got {v}")
    req.steps = _as_int("steps", req.steps)
    if not 1 <= req.steps <= limits.max_steps:
        raise RequestError(f"steps must be between 1 and {limits.max_steps}, got {req.steps}")
    req.cfg_scale = _as_float("CFG scale", req.cfg_scale)
    if not 0 <= req.cfg_scale <= limits.max_cfg:
        raise RequestError(
            f"CFG scale must be between 0 and {limits.max_cfg:g}, got {req.cfg_scale:g}")
    req.seed = _as_int("seed", req.seed)
    if not -1 <= req.seed <= MAX_SEED:
        raise RequestError(f"seed must be -1 (random) or between 0 and {MAX_SEED}, got {req.seed}")
    if req.sampler not in SAMPLER_NAMES:
        raise RequestError(
            f"unknown sampler {req.sampler!r}; choose one of: {', '.join(SAMPLER_NAMES)}")
    req.batch_size = _as_int("batch size", req.batch_size)
    req.batch_count = _as_int("batch count", req.batch_count)
    if not 1 <= req.batch_size <= limits.max_batch_size:
        raise RequestError(
            f"batch size must be between 1 and {limits.max_batch_size}, got {req.batch_size}")
    if not 1 <= req.batch_count <= limits.max_batch_count:
        raise RequestError(
            f"batch count must be between 1 and {limits.max_batch_count}, got {req.batch_count}")
    validate_mode_fields(req, limits, styles)
    return req


# -- styles, hires fix, img2img / inpaint / outpaint (issue #4) -------------------------------

def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise RequestError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return value


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def validate_mode_fields(req: GenerationRequest, limits: Limits,
                         styles: StyleLibrary | None = None) -> None:
    """Check the fields of styles, hires fix and the image modes; normalise images to RGB
    and masks to ``L`` of the image's size (white = repaint)."""
    _choice("mode", req.mode, MODES)
    if isinstance(req.styles, str):
        req.styles = [req.styles] if req.styles else []
    req.styles = [s for s in (req.styles or []) if s]
    library = styles or StyleLibrary(SHIPPED_STYLES)
    known = library.names()
    for name in req.styles:
        _choice("style", name, known)
    req.style_texts = library.templates(req.styles)
    if req.mode == "txt2img":
        if req.enable_hr:
            _validate_hires(req, limits)
        return
    if req.init_image is None:
        raise RequestError(f"{req.mode} needs an image")
    if not isinstance(req.init_image, Image.Image):
        raise RequestError("image must be a picture")
    req.init_image = imaging.to_rgb(req.init_image)
    req.denoising_strength = _as_float("denoising strength", req.denoising_strength)
    # steps x strength may round to zero steps: accepted, the engine runs one step then (as
    # AUTOMATIC1111 and ComfyUI do), so a low strength is never an error
    _in_range("denoising strength", req.denoising_strength, 0, 1)
    _choice("resize mode", req.resize_mode, RESIZE_MODES)
    req.mask_blur = _as_int("mask blur", req.mask_blur)
    _in_range("mask blur", req.mask_blur, 0, 64)
    if req.mode == "inpaint":
        _validate_inpaint(req)
    elif req.mode == "outpaint":
        _validate_outpaint(req, limits)


def _validate_hires(req: GenerationRequest, limits: Limits) -> None:
    req.hr_scale = _as_float("hires upscale", req.hr_scale)
    _in_range("hires upscale", req.hr_scale, 1, 4)
    _choice("hires upscaler", req.hr_upscaler, HR_UPSCALERS)
    req.hr_steps = _as_int("hires steps", req.hr_steps)
    _in_range("hires steps", req.hr_steps, 0, limits.max_steps)
    req.hr_denoising_strength = _as_float("hires denoising strength", req.hr_denoising_strength)
    _in_range("hires denoising strength", req.hr_denoising_strength, 0, 1)  # 0: accepted
    w, h = hires_size(req)
    if max(w, h) > limits.max_size:
        raise RequestError(f"hires fix size {w}x{h} is above the limit of {limits.max_size}")


def hires_size(req: GenerationRequest) -> tuple[int, int]:
    """The second pass's size: width and height times ``hr_scale``, down to a multiple of 8."""
    return int(req.width * req.hr_scale) // 8 * 8, int(req.height * req.hr_scale) // 8 * 8


def _validate_inpaint(req: GenerationRequest) -> None:
    _choice("inpaint area", req.inpaint_area, INPAINT_AREAS)
    _choice("masked content", req.masked_content, MASKED_CONTENTS)
    req.inpaint_padding = _as_int("masked area padding", req.inpaint_padding)
    _in_range("masked area padding", req.inpaint_padding, 0, 256)
    if req.mask is None:
        raise RequestError("inpaint needs a mask: draw on the image or upload a mask")
    if not isinstance(req.mask, Image.Image):
        raise RequestError("mask must be a picture")
    mask = imaging.to_mask(req.mask)
    if mask.size != req.init_image.size:
        req.extra.setdefault("notices", []).append(
            f"mask was {mask.width}x{mask.height}, resized to the image's "
            f"{req.init_image.width}x{req.init_image.height}")
        mask = mask.resize(req.init_image.size, Image.Resampling.LANCZOS)
    if req.invert_mask:
        mask = mask.point(lambda v: 255 - v)
    if mask.getextrema()[1] == 0:
        raise RequestError("the mask is empty: nothing to inpaint (paint the area to change)")
    req.mask = mask


def _validate_outpaint(req: GenerationRequest, limits: Limits) -> None:
    sides = {}
    for side in ("left", "right", "up", "down"):
        value = _as_int(f"outpaint {side}", getattr(req, f"outpaint_{side}"))
        if value < 0 or value % 8:
            raise RequestError(f"outpaint {side} must be a multiple of 8 and not negative, "
                               f"got {value}")
        setattr(req, f"outpaint_{side}", value)
        sides[side] = value
    if not any(sides.values()):
        raise RequestError("outpaint needs at least one side to extend (left, right, up, down)")
    w = req.init_image.width + sides["left"] + sides["right"]
    h = req.init_image.height + sides["up"] + sides["down"]
    if max(w, h) > limits.max_size:
        raise RequestError(f"outpainted size {w}x{h} is above the limit of {limits.max_size}")


def resolve_seed(seed: int, rng: random.Random | None = None) -> int:
    """-1 means random: draw the seed that will actually be used (and recorded)."""
    if seed == -1:
        return (rng or random.SystemRandom()).randint(0, MAX_SEED)
    return seed
