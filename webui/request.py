"""``GenerationRequest``: the one request type that the UI and the APIs hand to the engine.

It is validated in one place (``validate``) so every front door rejects the same bad input
with the same words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields

from PIL import Image

from webui.config import Limits
from webui.engine.samplers import SAMPLER_NAMES

MAX_SEED = 2**32 - 1

SIZE_PRESETS: list[tuple[int, int]] = [
    (1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216),
    (1344, 768), (768, 1344), (1536, 640), (640, 1536),
]


class RequestError(ValueError):
    """A request that cannot run; the message is shown to the user as is."""


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


def validate(req: GenerationRequest, limits: Limits) -> GenerationRequest:
    """Check and normalise ``req`` in place; raise ``RequestError`` with a clear message."""
    if req.prompt is None or not isinstance(req.prompt, str):
        raise RequestError("prompt must be text")
    req.negative_prompt = req.negative_prompt or ""
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
    return req


def resolve_seed(seed: int, rng: random.Random | None = None) -> int:
    """-1 means random: draw the seed that will actually be used (and recorded)."""
    if seed == -1:
        return (rng or random.SystemRandom()).randint(0, MAX_SEED)
    return seed
