"""Translate A1111 ``/sdapi/v1`` bodies into a ``GenerationRequest`` and results back into
A1111's answer. No generation logic lives here: the request goes to ``ctx.jobs`` like the UI's.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from webui import __version__
from webui.api.a1111_models import Img2ImgRequest, Txt2ImgRequest, _Processing
from webui.api.catalog import resolve_checkpoint
from webui.api.common import ApiError, decode_image
from webui.api.controlnet_payload import split_controlnet
from webui.choices import SAMPLERS, SCHEDULE_TYPES, split_sampler_name
from webui.metadata.infotext import parse_infotext
from webui.request import GenerationRequest, RequestError

log = logging.getLogger(__name__)

#: A1111's old short sampler names (``k_euler_a``...), still sent by some clients
SAMPLER_ALIASES: dict[str, list[str]] = {
    "Euler a": ["k_euler_a", "k_euler_ancestral"],
    "Euler": ["k_euler"],
    "DPM++ 2M": ["k_dpmpp_2m"],
    "DPM++ 2M SDE": ["k_dpmpp_2m_sde"],
    "DPM++ SDE": ["k_dpmpp_sde"],
    "DPM2": ["k_dpm_2"],
    "DPM2 a": ["k_dpm_2_a"],
    "DDIM": ["ddim"],
    "UniPC": ["unipc"],
    "Heun": ["k_heun"],
    "LMS": ["k_lms"],
    "PLMS": ["plms"],
}
#: the Karras variants' old short names (``k_dpmpp_2m_ka``): sampler + Karras
_KARRAS_ALIASES = {"k_dpmpp_2m_ka": "DPM++ 2M", "k_dpmpp_2m_sde_ka": "DPM++ 2M SDE",
                   "k_dpmpp_sde_ka": "DPM++ SDE", "k_lms_ka": "LMS"}
#: A1111 schedule types this app honours: name -> label (``webui.choices.SCHEDULE_TYPES``)
SCHEDULERS = SCHEDULE_TYPES
#: img2img ``resize_mode`` 0..3 (3, "Just resize (latent upscale)", resizes the image)
RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill", "Just resize"]
#: ``inpainting_fill`` 0..3 ("latent nothing" starts from noise as "latent noise" does)
MASKED_CONTENT = ["fill", "original", "latent noise", "latent noise"]
_NONE = ("", "none", "automatic")


def resolve_sampler(sampler: str | None, scheduler: str | None = None) -> tuple[str, str]:
    """An A1111 sampler (name, alias, any case; a combined "DPM++ 2M Karras" too) and
    ``scheduler`` (label or name) -> (sampler, schedule type) for the request, which checks
    that the two go together."""
    name = (sampler or "Euler").strip()
    if name.lower() in _KARRAS_ALIASES:
        return _KARRAS_ALIASES[name.lower()], "Karras"
    lookup = {n.lower(): n for n in SAMPLERS}
    for n, aliases in SAMPLER_ALIASES.items():
        lookup.update({a: n for a in aliases})
    base = lookup.get(name.lower())
    if base is not None:
        return base, scheduler or "Automatic"
    for n in SAMPLERS:  # "dpm++ 2m karras" in any case
        if name.lower().startswith(n.lower() + " ") and split_sampler_name(
                n + name[len(n):]) is not None:
            return n + name[len(n):], scheduler or "Automatic"
    raise RequestError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")


def hr_upscaler(name: str | None) -> str:
    """A1111's upscaler names -> this app's: every latent mode is ``Latent``; the others
    (``None``, ``Lanczos``, ``Nearest``, ESRGAN models by A1111 name or file stem) are passed
    on, and validation finds them in the upscaler registry or refuses them with the list."""
    if not name:
        return "Latent"
    if name.lower().startswith("latent"):
        return "Latent"
    return name


def _sampler(body: _Processing, options) -> tuple[str, str]:
    """The body's sampler: an extension's by its exact name, else A1111's (aliases too)."""
    name = body.sampler_name or body.sampler_index
    if name and name in (getattr(options.ctx.manager, "extra_samplers", None) or {}):
        return name, "Automatic"
    return resolve_sampler(name, body.scheduler)


def _or(value, default):
    return default if value is None else value


def _common(body: _Processing, options) -> dict:
    """GenerationRequest fields shared by txt2img and img2img."""
    overrides = body.override_settings or {}
    model = options.checkpoint()
    if overrides.get("sd_model_checkpoint"):  # for this job only (the choice stays)
        model = resolve_checkpoint(options.ctx.manager, overrides["sd_model_checkpoint"]).name
    vae = options.vae()
    if "sd_vae" in overrides:
        checked = options.check_vae(overrides["sd_vae"])
        vae = None if checked in ("Automatic", "None") else checked
    refiner = body.refiner_checkpoint
    if refiner is not None and refiner.strip().lower() not in _NONE:
        refiner = resolve_checkpoint(options.ctx.manager, refiner, refiner=True).name
    else:
        refiner = None
    # sd-webui-controlnet's units ride in alwayson_scripts: they become the request's own
    controlnet = split_controlnet(body.alwayson_scripts)
    if overrides and body.override_settings_restore_afterwards is False:
        options.update(overrides)  # A1111 keeps such overrides as the new settings
    return dict(
        prompt=_or(body.prompt, ""), negative_prompt=_or(body.negative_prompt, ""),
        styles=list(body.styles or []), seed=_or(body.seed, -1),
        **dict(zip(("sampler", "scheduler"), _sampler(body, options))),
        clip_skip=_or(overrides.get("CLIP_stop_at_last_layers"),
                      options.value("CLIP_stop_at_last_layers", 1)),
        batch_size=_or(body.batch_size, 1), batch_count=_or(body.n_iter, 1),
        steps=_or(body.steps, 50), cfg_scale=_or(body.cfg_scale, 7.0),
        width=_or(body.width, 512), height=_or(body.height, 512), model=model, vae=vae,
        refiner=refiner, refiner_switch_at=_or(body.refiner_switch_at, 0.8),
        # scripts (webui.extensions): the job runner checks them against their models
        script=(body.script_name or "").strip() or None,
        script_args=list(body.script_args or []),
        alwayson_scripts=dict(controlnet.others or {}),
        control_units=controlnet.units,
        extra={"api": "a1111", **({"controlnet_maps": list(controlnet.return_maps)}
                                  if controlnet.units else {})},
    )


def txt2img_request(body: Txt2ImgRequest, options) -> GenerationRequest:
    """``/sdapi/v1/txt2img`` body -> request (hires fix fields included)."""
    fields = _common(body, options)
    scale = _or(body.hr_scale, 2.0)
    rx, ry = body.hr_resize_x or 0, body.hr_resize_y or 0
    if rx > 0 or ry > 0:  # A1111: a target size instead of a scale
        scale = max(rx / max(fields["width"], 1), ry / max(fields["height"], 1))
    return GenerationRequest(
        **fields, mode="txt2img", enable_hr=bool(body.enable_hr), hr_scale=scale,
        hr_upscaler=hr_upscaler(body.hr_upscaler), hr_steps=_or(body.hr_second_pass_steps, 0),
        hr_denoising_strength=_or(body.denoising_strength, 0.7),
    )


def img2img_request(body: Img2ImgRequest, options) -> GenerationRequest:
    """``/sdapi/v1/img2img`` body -> img2img request, or inpaint when a mask is given."""
    if not body.init_images:
        raise ApiError(400, "init_images is required: a list with one base64 image")
    init = decode_image(body.init_images[0], "init_images[0]").convert("RGB")
    mask = decode_image(body.mask, "mask").convert("L") if body.mask else None
    resize = _or(body.resize_mode, 0)
    fill = _or(body.inpainting_fill, 0)
    if not 0 <= resize < len(RESIZE_MODES):
        raise RequestError(f"resize_mode must be 0 to {len(RESIZE_MODES) - 1}, got {resize}")
    if not 0 <= fill < len(MASKED_CONTENT):
        raise RequestError(f"inpainting_fill must be 0 to {len(MASKED_CONTENT) - 1}, got {fill}")
    return GenerationRequest(
        **_common(body, options), mode="inpaint" if mask is not None else "img2img",
        init_image=init, mask=mask, denoising_strength=_or(body.denoising_strength, 0.75),
        resize_mode=RESIZE_MODES[resize],
        mask_blur=_or(body.mask_blur, _or(body.mask_blur_x, 4)),
        inpaint_area="Only masked" if _or(body.inpaint_full_res, True) else "Whole picture",
        inpaint_padding=_or(body.inpaint_full_res_padding, 0),
        masked_content=MASKED_CONTENT[fill], invert_mask=bool(body.inpainting_mask_invert),
    )


def _notices(result) -> list[str]:
    out = list(getattr(result.request, "notices", ()) or ())
    for gen in result.images:
        out += [n for n in getattr(gen, "notes", ()) if n not in out]
    return out


def info_json(result, req: GenerationRequest) -> str:
    """A1111's ``info``: a JSON string describing what was made, image by image."""
    parsed = [parse_infotext(g.infotext) for g in result.images]
    first = parsed[0] if parsed else {"prompt": req.prompt,
                                      "negative_prompt": req.negative_prompt, "params": {}}
    size = str(first["params"].get("Size", f"{req.width}x{req.height}"))
    try:
        width, height = (int(v) for v in size.split("x"))
    except ValueError:
        width, height = req.width, req.height
    seeds = [g.seed for g in result.images] or [result.seed]
    info = {
        "prompt": first["prompt"], "all_prompts": [p["prompt"] for p in parsed],
        "negative_prompt": first["negative_prompt"],
        "all_negative_prompts": [p["negative_prompt"] for p in parsed],
        "seed": seeds[0], "all_seeds": seeds, "subseed": -1, "all_subseeds": [-1] * len(seeds),
        "subseed_strength": 0, "width": width, "height": height,
        "sampler_name": req.sampler, "scheduler": req.scheduler, "cfg_scale": req.cfg_scale,
        "steps": req.steps,
        "batch_size": req.batch_size, "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": result.model_name, "sd_model_hash": result.model_hash,
        "sd_vae_name": req.vae, "sd_vae_hash": None, "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": req.denoising_strength if req.mode != "txt2img" else (
            req.hr_denoising_strength if req.enable_hr else None),
        # the ControlNet units, as the extension adds them ("ControlNet 0": "Module: ...")
        "extra_generation_params": {k: v for k, v in first["params"].items()
                                    if k.startswith("ControlNet ")},
        "index_of_first_image": 0,
        "infotexts": [g.infotext for g in result.images], "styles": list(req.styles),
        "job_timestamp": datetime.now().strftime("%Y%m%d%H%M%S"), "clip_skip": req.clip_skip,
        "is_using_inpainting_conditioning": False, "version": f"sdxl-webui {__version__}",
        "interrupted": result.interrupted,
        # the prompt policy's warnings (webui.policy): the job ran, the caller should know
        "warnings": list(getattr(result.request, "policy_warnings", ()) or ()),
        # what validation adjusted (a resized mask) and what saving said of each image
        # (webui.history.store): "not watermarked: under 256 px wide ...", a filtered one
        "notices": _notices(result),
        # the output filter (--safety-checker), image by image: blurred or withheld, and why
        "content_filtered": [bool(getattr(g, "filtered", "")) for g in result.images],
        "content_filter": [getattr(g, "filtered", "") for g in result.images],
    }
    return json.dumps(info)
