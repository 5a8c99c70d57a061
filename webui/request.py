"""``GenerationRequest``: the one request type that the UI and the APIs hand to the engine.

A request is a frozen value. It is validated in one place (``validate``), which returns a
new, normalised request (with its ``notices``) so every front door rejects the same bad
input with the same words; modes derive the requests they run with ``dataclasses.replace``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields, replace

from PIL import Image

from webui import imaging
from webui.choices import (
    HR_UPSCALERS,
    INPAINT_AREAS,
    MASKED_CONTENTS,
    MODES,
    RESIZE_MODES,
    SAMPLER_SCHEDULES,
    SAMPLERS,
    SCHEDULE_TYPES,
    split_sampler_name,
    schedule_label,
)
from webui.config import Limits
from webui.controlnet.names import resolve_unit_names
from webui.controlnet.units import ControlUnit, check_units
from webui.errors import RequestError  # defined low so that webui.imaging can raise it too
from webui.policy import PromptPolicy
from webui.prompting.styles import SHIPPED_STYLES, StyleLibrary, apply_style_texts

MAX_SEED = 2**53 - 1  # ComfyUI seeds; the most a browser number box holds exactly
RANDOM_SEED_MAX = 2**32 - 1  # random seeds are drawn below this, as A1111 draws them
MAX_CLIP_SKIP = 11  # SDXL's CLIP-L has 12 layers: 11 leaves its first layer's output

SIZE_PRESETS: list[tuple[int, int]] = [
    (1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216),
    (1344, 768), (768, 1344), (1536, 640), (640, 1536),
]


@dataclass(frozen=True)
class GenerationRequest:
    """Every parameter of one generation job (one or more images). Frozen: derive a changed
    request with ``dataclasses.replace``."""

    prompt: str
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = -1
    sampler: str = "Euler a"  # A1111 1.9+'s plain sampler; "DPM++ 2M Karras" is split
    scheduler: str = "Automatic"  # A1111's schedule type (label or API name)
    clip_skip: int = 1  # A1111's "Clip skip": 1 = SDXL's own (penultimate) layer
    batch_size: int = 1
    batch_count: int = 1
    model: str | None = None
    mode: str = "txt2img"  # txt2img | img2img | inpaint | outpaint
    # -- model manager: refiner and VAE override (LoRAs come from <lora:name:w> in the prompt)
    refiner: str | None = None
    refiner_switch_at: float = 0.8
    vae: str | None = None
    styles: tuple[str, ...] = ()
    # filled by ``validate`` from the app's styles file: (prompt, negative) templates of
    # ``styles`` in order, applied by the engine
    style_texts: tuple[tuple[str, str], ...] = ()
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
    # -- ControlNet / IP-Adapter units (webui.controlnet.units; at most 3): txt2img, img2img,
    # inpaint
    control_units: tuple[ControlUnit, ...] = ()
    # -- scripts (webui.extensions): a selectable one that makes the job's pictures (A1111's
    # ``script_name`` / ``script_args``) and always-on ones ({title: args}); the job runner
    # validates the arguments into each script's model before the job queues
    script: str | None = None
    script_args: object = None
    alwayson_scripts: dict = field(default_factory=dict)
    # -- anything else a front door wants recorded
    extra: dict = field(default_factory=dict)
    # -- what ``validate`` changed and the user should hear about (e.g. a resized mask)
    notices: tuple[str, ...] = ()
    # -- the prompt policy's warnings for this prompt (shown by every door; see webui.policy)
    policy_warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """All fields except images (for logs and records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not isinstance(getattr(self, f.name), Image.Image)}


def as_int(name: str, value) -> int:
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


def as_float(name: str, value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a number, got {value!r}") from None
    if out != out:  # NaN
        raise RequestError(f"{name} must be a number, got {value!r}")
    return out


def validate(req: GenerationRequest, limits: Limits,
             styles: StyleLibrary | None = None, policy: PromptPolicy | None = None, *,
             owner: str = "local", door: str | None = None,
             upscalers=None, samplers=None, controls=None) -> GenerationRequest:
    """Check ``req`` and return a new, normalised request (``req`` is left as it was);
    raise ``RequestError`` with a clear message. Style names are checked against ``styles``
    (the app's styles file; None: the shipped presets) and resolved into ``style_texts``;
    what was adjusted on the way (e.g. a resized mask) is said in ``notices``. Last, the
    styled prompt goes through ``policy`` (``check_prompt``) for ``owner`` at ``door``.
    ``upscalers``: the app's upscaler registry (hires fix upscaler names; None: the built-in
    resizers only). ``controls``: the model manager, against which ControlNet units' model and
    preprocessor names are checked and made canonical (None: their values only)."""
    if req.prompt is None or not isinstance(req.prompt, str):
        raise RequestError("prompt must be text")
    negative = req.negative_prompt or ""
    if not isinstance(negative, str):
        raise RequestError("negative prompt must be text")
    for name, text in (("prompt", req.prompt), ("negative prompt", negative)):
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
    out = {"negative_prompt": negative}
    for name in ("width", "height"):
        v = out[name] = as_int(name, getattr(req, name))
        check_size(name, v, limits)
    out["steps"] = check_steps(as_int("steps", req.steps), limits)
    out["cfg_scale"] = check_cfg(as_float("CFG scale", req.cfg_scale), limits)
    seed = out["seed"] = as_int("seed", req.seed)
    if not -1 <= seed <= MAX_SEED:
        raise RequestError(f"seed must be -1 (random) or between 0 and {MAX_SEED}, got {seed}")
    if samplers and req.sampler in samplers:  # an extension's (webui.extensions): its own
        out["sampler"], out["scheduler"] = req.sampler, "Automatic"
    else:
        out["sampler"], out["scheduler"] = check_sampler(req.sampler, req.scheduler)
    out["clip_skip"] = as_int("clip skip", req.clip_skip)
    if not 1 <= out["clip_skip"] <= MAX_CLIP_SKIP:
        raise RequestError(f"clip skip must be between 1 and {MAX_CLIP_SKIP}, "
                           f"got {out['clip_skip']}")
    out["batch_size"] = as_int("batch size", req.batch_size)
    out["batch_count"] = as_int("batch count", req.batch_count)
    if not 1 <= out["batch_size"] <= limits.max_batch_size:
        raise RequestError(f"batch size must be between 1 and {limits.max_batch_size}, "
                           f"got {out['batch_size']}")
    if not 1 <= out["batch_count"] <= limits.max_batch_count:
        raise RequestError(f"batch count must be between 1 and {limits.max_batch_count}, "
                           f"got {out['batch_count']}")
    if req.script is not None and not isinstance(req.script, str):
        raise RequestError("script_name must be a script's name (text)")
    out["script"] = (req.script or "").strip() or None
    if req.alwayson_scripts is not None and not isinstance(req.alwayson_scripts, dict):
        raise RequestError("alwayson_scripts must be an object: {\"<script>\": {\"args\": "
                           "[...]}}")
    out["alwayson_scripts"] = dict(req.alwayson_scripts or {})
    out["control_units"] = check_units(req.control_units, req.mode, limits.max_image_pixels)
    if out["control_units"] and req.mode == "outpaint":
        raise RequestError("ControlNet units work in txt2img, img2img and inpaint, not outpaint")
    if controls is not None and out["control_units"]:
        out["control_units"] = resolve_unit_names(out["control_units"], controls)
    req = replace(req, **out)
    req = replace(req, **_mode_fields(req, limits, styles, upscalers))
    if policy is not None:
        req = replace(req, policy_warnings=check_prompt(req, policy, owner, door))
    return req


def check_prompt(req: GenerationRequest, policy: PromptPolicy, owner: str = "local",
                 door: str | None = None) -> tuple[str, ...]:
    """The policy's warnings for the prompt ``req`` runs with, its styles applied (and the
    negative prompt when the policy says so); ``PromptBlocked`` when a block rule matches.
    ``door`` defaults to the API that made ``req`` (``extra["api"]``), else "ui"."""
    prompt, negative = apply_style_texts(req.prompt, req.negative_prompt, req.style_texts)
    texts = [prompt] + ([negative] if negative and policy.check_negative else [])
    door = door or (req.extra or {}).get("api") or "ui"
    return tuple(policy.check(texts, owner=owner, door=door))


# -- the checks request fields share with the Settings tab's defaults -------------------------

def check_size(name: str, value: int, limits: Limits) -> int:
    """A width or height: a multiple of 8 within ``limits``."""
    if value % 8:
        raise RequestError(f"{name} must be a multiple of 8, got {value}")
    if not limits.min_size <= value <= limits.max_size:
        raise RequestError(
            f"{name} must be between {limits.min_size} and {limits.max_size}, got {value}")
    return value


def check_steps(value: int, limits: Limits) -> int:
    if not 1 <= value <= limits.max_steps:
        raise RequestError(f"steps must be between 1 and {limits.max_steps}, got {value}")
    return value


def check_cfg(value: float, limits: Limits) -> float:
    if not 0 <= value <= limits.max_cfg:
        raise RequestError(
            f"CFG scale must be between 0 and {limits.max_cfg:g}, got {value:g}")
    return value


def check_sampler(name, scheduler=None) -> tuple[str, str]:
    """(sampler, schedule type label) for a sampler and a schedule type (label or A1111 API
    name; None = Automatic). A sampler name that carries its schedule ("DPM++ 2M Karras", as
    A1111 named them before 1.9) is split; its schedule wins over an Automatic one."""
    split = split_sampler_name(name)
    if split is None:
        raise RequestError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)} "
                           "(a schedule type may follow the name, as in 'DPM++ 2M Karras')")
    sampler, named = split
    schedule = schedule_label(scheduler)
    if schedule is None:
        raise RequestError(f"unknown schedule type {scheduler!r}; choose one of: "
                           f"{', '.join(SCHEDULE_TYPES.values())}")
    if named != "Automatic":
        if schedule not in ("Automatic", named):
            raise RequestError(f"sampler {name!r} names schedule type {named}, but the "
                               f"schedule type is {schedule}: choose one")
        schedule = named
    if schedule not in SAMPLER_SCHEDULES[sampler]:
        raise RequestError(f"{sampler} has no {schedule} schedule here; choose one of: "
                           f"{', '.join(SAMPLER_SCHEDULES[sampler])}")
    return sampler, schedule


# -- styles, hires fix, img2img / inpaint / outpaint -----------------------------------------

def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise RequestError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
    return value


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def _mode_fields(req: GenerationRequest, limits: Limits,
                 styles: StyleLibrary | None = None, upscalers=None) -> dict:
    """Check the fields of styles, hires fix and the image modes; return their normalised
    values (images as RGB, masks as ``L`` of the image's size, white = repaint)."""
    _choice("mode", req.mode, MODES)
    names = req.styles
    if isinstance(names, str):
        names = [names]
    names = tuple(s for s in (names or ()) if s)
    library = styles or StyleLibrary(SHIPPED_STYLES)
    known = library.names()
    for name in names:
        _choice("style", name, known)
    out = {"styles": names, "style_texts": tuple(library.templates(list(names)))}
    if req.mode == "txt2img":
        if req.enable_hr:
            out.update(_hires_fields(req, limits, upscalers))
        return out
    if req.init_image is None:
        raise RequestError(f"{req.mode} needs an image")
    if not isinstance(req.init_image, Image.Image):
        raise RequestError("image must be a picture")
    image = out["init_image"] = imaging.to_rgb(req.init_image)
    strength = out["denoising_strength"] = as_float("denoising strength",
                                                     req.denoising_strength)
    # steps x strength may round to zero steps: accepted, the engine runs one step then (as
    # AUTOMATIC1111 and ComfyUI do), so a low strength is never an error
    _in_range("denoising strength", strength, 0, 1)
    _choice("resize mode", req.resize_mode, RESIZE_MODES)
    blur = out["mask_blur"] = as_int("mask blur", req.mask_blur)
    _in_range("mask blur", blur, 0, 64)
    if req.mode == "inpaint":
        out.update(_inpaint_fields(req, image))
    elif req.mode == "outpaint":
        out.update(_outpaint_fields(req, image, limits))
    return out


def hires_upscaler(name, upscalers=None) -> str:
    """"Latent", or an upscaler's listed name: ``upscalers`` (the app's registry: anything with
    ``names()`` and ``canonical(name)``) also takes a model's file stem, any case; None: the
    built-in resizers only."""
    if name == "Latent":
        return name
    choices = HR_UPSCALERS
    if upscalers is not None and isinstance(name, str):
        try:
            return upscalers.canonical(name)
        except RequestError:
            choices = ("Latent", *upscalers.names())
    return _choice("hires upscaler", name, choices)


def _hires_fields(req: GenerationRequest, limits: Limits, upscalers=None) -> dict:
    scale = as_float("hires upscale", req.hr_scale)
    _in_range("hires upscale", scale, 1, 4)
    upscaler = hires_upscaler(req.hr_upscaler, upscalers)
    steps = as_int("hires steps", req.hr_steps)
    _in_range("hires steps", steps, 0, limits.max_steps)
    strength = as_float("hires denoising strength", req.hr_denoising_strength)
    _in_range("hires denoising strength", strength, 0, 1)  # 0: accepted
    out = {"hr_scale": scale, "hr_steps": steps, "hr_denoising_strength": strength,
           "hr_upscaler": upscaler}
    w, h = hires_size(replace(req, **out))
    if max(w, h) > limits.max_size:
        raise RequestError(f"hires fix size {w}x{h} is above the limit of {limits.max_size}")
    return out


def hires_size(req: GenerationRequest) -> tuple[int, int]:
    """The second pass's size: width and height times ``hr_scale``, down to a multiple of 8."""
    return int(req.width * req.hr_scale) // 8 * 8, int(req.height * req.hr_scale) // 8 * 8


def _inpaint_fields(req: GenerationRequest, image: Image.Image) -> dict:
    _choice("inpaint area", req.inpaint_area, INPAINT_AREAS)
    _choice("masked content", req.masked_content, MASKED_CONTENTS)
    padding = as_int("masked area padding", req.inpaint_padding)
    _in_range("masked area padding", padding, 0, 256)
    if req.mask is None:
        raise RequestError("inpaint needs a mask: draw on the image or upload a mask")
    if not isinstance(req.mask, Image.Image):
        raise RequestError("mask must be a picture")
    mask = imaging.to_mask(req.mask)
    notices = list(req.notices)
    if mask.size != image.size:
        notices.append(f"mask was {mask.width}x{mask.height}, resized to the image's "
                       f"{image.width}x{image.height}")
        mask = mask.resize(image.size, Image.Resampling.LANCZOS)
    if req.invert_mask:
        mask = mask.point(lambda v: 255 - v)
    if mask.getextrema()[1] == 0:
        raise RequestError("the mask is empty: nothing to inpaint (paint the area to change)")
    return {"inpaint_padding": padding, "mask": mask, "notices": tuple(notices)}


def _outpaint_fields(req: GenerationRequest, image: Image.Image, limits: Limits) -> dict:
    sides = {}
    for side in ("left", "right", "up", "down"):
        value = as_int(f"outpaint {side}", getattr(req, f"outpaint_{side}"))
        if value < 0 or value % 8:
            raise RequestError(f"outpaint {side} must be a multiple of 8 and not negative, "
                               f"got {value}")
        sides[side] = value
    if not any(sides.values()):
        raise RequestError("outpaint needs at least one side to extend (left, right, up, down)")
    w = image.width + sides["left"] + sides["right"]
    h = image.height + sides["up"] + sides["down"]
    if max(w, h) > limits.max_size:
        raise RequestError(f"outpainted size {w}x{h} is above the limit of {limits.max_size}")
    return {f"outpaint_{side}": v for side, v in sides.items()}


def resolve_seed(seed: int, rng: random.Random | None = None) -> int:
    """-1 means random: draw the seed that will actually be used (and recorded), a 32-bit
    one as A1111 draws (larger seeds are accepted, never drawn)."""
    if seed == -1:
        return (rng or random.SystemRandom()).randint(0, RANDOM_SEED_MAX)
    return seed
