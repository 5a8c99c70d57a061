"""sd-webui-controlnet's own routes, answering as the extension's ``scripts/api.py`` does:
``/controlnet/version``, ``model_list``, ``module_list``, ``control_types``, ``settings`` and
``POST /controlnet/detect`` (run a preprocessor on pictures).

They read the model manager's ControlNet/IP-Adapter models and preprocessors; units in
txt2img/img2img bodies are parsed by ``webui.api.controlnet_payload``. Guarded like every API
route (``webui.api.security``: ``/controlnet/`` is an API prefix).
"""

from __future__ import annotations

import base64
import io
import logging

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from webui.api.common import ApiError, decode_image
from webui.caller import resolve_caller
from webui.controlnet.names import IP_ADAPTER_KIND
from webui.controlnet.preprocess import IP_ADAPTER_MODULES, detail, is_ip_adapter_module
from webui.controlnet.units import MAX_UNITS
from webui.errors import RequestError

log = logging.getLogger(__name__)

#: the extension's API version (``external_code.get_api_version``) whose answers these match
API_VERSION = 3
#: control types listed by ``/controlnet/control_types`` (the extension's tags we have)
CONTROL_TYPES = ("All", "Canny", "Depth", "IP-Adapter")
#: most pictures one ``/controlnet/detect`` call runs
MAX_DETECT_IMAGES = 8


class DetectRequest(BaseModel):
    """``POST /controlnet/detect``'s body (the extension's field names)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    controlnet_module: str = Field("none", description="A preprocessor (module_list).")
    controlnet_input_images: list[str] = Field(default_factory=list,
                                               description="Base64 pictures.")
    controlnet_processor_res: int = Field(-1, description="-1: 512.")
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1
    controlnet_masks: list[str] = Field(default_factory=list, description="Ignored.")
    low_vram: bool = False


def _png_base64(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def detected_maps_base64(result, req) -> list[str]:
    """The job's control maps (one per unit, IP-Adapter units: the reference picture) as
    base64 PNGs, but those of units sent with ``"save_detected_map": false``."""
    maps = list(getattr(result, "control_maps", None) or [])
    keep = list((req.extra or {}).get("controlnet_maps") or [True] * len(maps))
    keep += [True] * (len(maps) - len(keep))
    return [_png_base64(m) for m, wanted in zip(maps, keep) if wanted and m is not None]


def control_model_infos(manager, update: bool = False) -> list:
    """The manager's ControlNet/IP-Adapter models (rescanned first when ``update``)."""
    lister = getattr(manager, "control_models", None)
    if lister is None:
        return []
    if update:
        # listings read the folders anew; a scan here also refreshes the registry's view
        scan = getattr(getattr(manager, "registry", None), "control_scan", None)
        if scan is not None:
            scan()
    return list(lister())


def module_names(manager) -> list[str]:
    """Every module a unit may name: the preprocessors, then the IP-Adapter ones."""
    pre = getattr(manager, "preprocessors", None)
    return (pre.names() if pre is not None else ["none"]) + list(IP_ADAPTER_MODULES)


def _fits(info, control_type: str) -> bool:
    kind = getattr(info, "kind", "controlnet")
    if control_type == "IP-Adapter":
        return kind == IP_ADAPTER_KIND
    if kind == IP_ADAPTER_KIND:
        return False
    # a Union model does every type; a plain one by its name, as the extension filters
    return kind == "controlnet-union" or control_type.lower() in info.title.lower()


def control_types(manager) -> dict:
    """{type: {module_list, model_list, default_option, default_model}} as the extension."""
    infos = control_model_infos(manager)
    modules = module_names(manager)
    out = {}
    for ctype in CONTROL_TYPES:
        if ctype == "All":
            mods, models, default = modules, [i.title for i in infos], "none"
        else:
            mods = [m for m in modules if detail(m)["tag"] == ctype]
            models = [i.title for i in infos if _fits(i, ctype)]
            default = mods[0] if mods else "none"
        out[ctype] = {"module_list": mods, "model_list": ["None", *models],
                      "default_option": default,
                      "default_model": models[0] if models and ctype != "All" else "None"}
    return out


def controlnet_router(ctx) -> APIRouter:
    """The ``/controlnet/*`` routes."""
    r = APIRouter(prefix="/controlnet", tags=["ControlNet"])
    manager = ctx.manager

    @r.get("/version")
    def version():
        """The sd-webui-controlnet API version these routes answer as."""
        return {"version": API_VERSION}

    @r.get("/model_list")
    def model_list(update: bool = False):
        """Installed ControlNet and IP-Adapter models by title ("name [hash]"), as units name
        them; ``update=true`` reads the models folder anew first."""
        return {"model_list": [i.title for i in control_model_infos(manager, update)]}

    @r.get("/module_list")
    def module_list(alias_names: bool = False):
        """Preprocessors ("modules") and their sliders. Names and aliases are the same here."""
        names = module_names(manager)
        return {"module_list": names,
                "module_detail": {n: {"model_free": False, "sliders": detail(n)["sliders"]}
                                  for n in names}}

    @r.get("/control_types")
    def get_control_types():
        """Modules and models by control type (All, Canny, Depth, IP-Adapter)."""
        return {"control_types": control_types(manager)}

    @r.get("/settings")
    def settings():
        """How many units a job may have."""
        return {"control_net_unit_count": MAX_UNITS}

    @r.post("/detect")
    def detect(body: DetectRequest, request: Request):
        """Run a preprocessor on each picture; the maps as base64 PNGs."""
        if ctx.rate_limiter is not None:  # a demo: a detect costs a visitor a job token
            ctx.rate_limiter.take(resolve_caller(ctx, request).job_key)
        pre = getattr(manager, "preprocessors", None)
        if pre is None:
            raise ApiError(422, "no preprocessors are available here")
        if is_ip_adapter_module(body.controlnet_module):
            raise ApiError(422, f"module {body.controlnet_module!r} is not supported by "
                                "detect (an IP-Adapter's picture is used as it is)")
        try:
            module = pre.canonical(body.controlnet_module)
        except RequestError as exc:
            raise ApiError(422, str(exc)) from None
        if not body.controlnet_input_images:
            raise ApiError(422, "controlnet_input_images is empty: send base64 pictures")
        if len(body.controlnet_input_images) > MAX_DETECT_IMAGES:
            raise ApiError(422, f"at most {MAX_DETECT_IMAGES} pictures per call, got "
                                f"{len(body.controlnet_input_images)}")
        res = 512 if body.controlnet_processor_res == -1 else body.controlnet_processor_res
        if not 64 <= res <= 2048:
            raise ApiError(422, f"controlnet_processor_res must be between 64 and 2048 (or "
                                f"-1), got {body.controlnet_processor_res}")
        limit = ctx.settings.limits.max_image_pixels
        pictures = []
        for i, data in enumerate(body.controlnet_input_images):
            img = decode_image(data, f"controlnet_input_images[{i}]")
            if img.width * img.height > limit:
                raise ApiError(400, f"controlnet_input_images[{i}] is {img.width}x{img.height}"
                                    f", above the limit of {limit} pixels (--max-image-pixels)")
            pictures.append(img.convert("RGB"))
        maps = [pre.run(module, img, res, body.controlnet_threshold_a,
                        body.controlnet_threshold_b) for img in pictures]
        log.info("detect: %d picture(s) with %s", len(maps), module)
        return {"images": [_png_base64(m) for m in maps], "info": "Success"}

    return r
