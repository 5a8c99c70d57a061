"""A unit's model and preprocessor names checked against what is installed, at every door.

``resolve_unit_names`` is called by ``webui.request.validate`` with the model manager (the job
runner passes it): each unit's model becomes its listed title ("name [hash]"), so the engine
and the infotext see one name whichever way the caller wrote it; its module becomes a listed
preprocessor's name, or an ``ip-adapter*`` module for an IP-Adapter model.
"""

from __future__ import annotations

from dataclasses import replace

from webui.controlnet.preprocess import IP_ADAPTER_MODULES, is_ip_adapter_module
from webui.controlnet.units import ControlUnit
from webui.errors import RequestError

IP_ADAPTER_KIND = "ip-adapter"


def model_titles(controls) -> list[str]:
    """The titles of the installed ControlNet and IP-Adapter models (none when the manager
    offers none)."""
    lister = getattr(controls, "control_models", None)
    return [m.title for m in lister()] if lister is not None else []


def resolve_unit_names(units: tuple[ControlUnit, ...], controls) -> tuple[ControlUnit, ...]:
    """``units`` with their model and module names canonical; ``RequestError`` naming the
    unit and the choices for a name that is not installed. ``controls``: the model manager
    (``control_models()``, ``resolve_control_model(name)``, ``preprocessors``)."""
    if not units:
        return units
    if getattr(controls, "resolve_control_model", None) is None:
        raise RequestError("ControlNet units are not available here (no ControlNet support "
                           "in this model manager)")
    return tuple(_resolve(i, u, controls) for i, u in enumerate(units))


def _resolve(i: int, unit: ControlUnit, controls) -> ControlUnit:
    where = f"ControlNet unit {i}"
    try:
        info = controls.resolve_control_model(unit.model)
    except RequestError as exc:
        raise RequestError(f"{where}: {exc}") from None
    except LookupError:  # a not-found error of another kind: the same plain answer
        titles = model_titles(controls)
        raise RequestError(f"{where}: unknown ControlNet model {unit.model!r}; choose one of: "
                           f"{', '.join(titles) or '(none installed in models/ControlNet)'}"
                           ) from None
    kind = getattr(info, "kind", "controlnet")
    preprocessors = controls.preprocessors
    module = unit.module
    if kind == IP_ADAPTER_KIND:
        # its picture goes to the image encoder as it is: an ip-adapter module, or none
        if is_ip_adapter_module(module):
            module = module.strip().lower()
            if "face_id" in module:
                raise RequestError(f"{where}: FaceID IP-Adapters (module {module!r}) are not "
                                   f"supported; choose one of: {', '.join(IP_ADAPTER_MODULES)}")
        elif isinstance(module, str) and module.strip().lower() == "none":
            module = "none"
        else:
            raise RequestError(f"{where}: {info.title!r} is an IP-Adapter; its module must be "
                               f"one of: {', '.join(IP_ADAPTER_MODULES)} (or none), not "
                               f"{module!r}")
    elif is_ip_adapter_module(module):
        raise RequestError(
            f"{where}: module {module!r} is for IP-Adapter models, and {info.title!r} is "
            f"a {kind} model; choose one of: {', '.join(preprocessors.names())}")
    else:
        try:
            module = preprocessors.canonical(module)
        except RequestError as exc:
            raise RequestError(f"{where}: {exc}") from None
    return replace(unit, model=info.title, module=module)
