"""``ControlUnit``: one ControlNet or IP-Adapter unit of a request, as sd-webui-controlnet
names its fields, and ``check_units``, the one place its values are checked.

A unit is a frozen value like the request that carries it (``GenerationRequest.control_units``).
Its model and preprocessor names are checked against what is installed where the app knows
that (the job runner); here only the values themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from PIL import Image

from webui import imaging
from webui.errors import RequestError

MAX_UNITS = 3  # units per job, as sd-webui-controlnet's default "Multi-ControlNet" count

#: sd-webui-controlnet's control modes, in its order (its API also sends the index)
CONTROL_MODES = ["Balanced", "My prompt is more important", "ControlNet is more important"]
#: its resize modes, in its order (index accepted too), and the older names it still takes
CONTROL_RESIZE_MODES = ["Just Resize", "Crop and Resize", "Resize and Fill"]
_RESIZE_ALIASES = {
    "inner fit (scale to fit)": "Crop and Resize", "outer fit (shrink to fit)": "Resize and Fill",
    "envelope (outer fit)": "Resize and Fill", "scale to fit (inner fit)": "Crop and Resize",
}


@dataclass(frozen=True)
class ControlUnit:
    """One unit: a control image (or, for IP-Adapter, the reference image), the preprocessor
    that turns it into a control map (``module``; "none": the image is the map), the model
    (a ControlNet or an IP-Adapter, by its listed name, ``name [hash]`` or bare), and how
    strongly and when it acts."""

    image: Image.Image | None = None  # None in img2img/inpaint: the job's init image
    mask: Image.Image | None = None  # an optional mask sent with the image (kept, recorded)
    module: str = "none"
    model: str = ""
    weight: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    control_mode: str = "Balanced"
    resize_mode: str = "Crop and Resize"
    processor_res: int = 512
    threshold_a: float = -1.0  # the preprocessor's first parameter (canny: low threshold)
    threshold_b: float = -1.0  # its second (canny: high threshold); -1 = its default
    pixel_perfect: bool = False


def control_mode(value) -> str:
    """A control mode by name (any case) or index -> its name."""
    return _named("control mode", value, CONTROL_MODES)


def control_resize_mode(value) -> str:
    """A resize mode by name (any case, older names too) or index -> its name."""
    if isinstance(value, str) and value.strip().lower() in _RESIZE_ALIASES:
        return _RESIZE_ALIASES[value.strip().lower()]
    return _named("resize mode", value, CONTROL_RESIZE_MODES)


def _named(what: str, value, names: list[str]) -> str:
    if isinstance(value, bool):
        value = None  # not an index
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        if 0 <= int(value) < len(names):
            return names[int(value)]
    elif isinstance(value, str):
        v = value.strip()
        if v.isdigit() and int(v) < len(names):
            return names[int(v)]
        for name in names:
            if v.lower() == name.lower():
                return name
    raise RequestError(f"unknown {what} {value!r}; choose one of: {', '.join(names)} "
                       f"(or their numbers 0-{len(names) - 1})")


def _number(name: str, value) -> float:
    if isinstance(value, bool):
        raise RequestError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a number, got {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise RequestError(f"{name} must be a number, got {value!r}")
    return float(out)


def check_units(units, mode: str, max_image_pixels: int) -> tuple[ControlUnit, ...]:
    """Check each unit's values; return them normalised (images RGB, masks ``L``, modes by
    name). ``RequestError`` names the unit ("ControlNet unit 1: ...")."""
    if units is None:
        return ()
    if not isinstance(units, (list, tuple)):
        raise RequestError("control units must be a list of units")
    units = tuple(units)
    if len(units) > MAX_UNITS:
        raise RequestError(f"at most {MAX_UNITS} ControlNet units per job, got {len(units)}")
    return tuple(_check_unit(i, u, mode, max_image_pixels) for i, u in enumerate(units))


def _check_unit(i: int, unit: ControlUnit, mode: str, max_pixels: int) -> ControlUnit:
    where = f"ControlNet unit {i}"
    if not isinstance(unit, ControlUnit):
        raise RequestError(f"{where}: not a unit")
    try:
        out = {}
        for what in ("image", "mask"):
            img = getattr(unit, what)
            if img is None:
                continue
            if not isinstance(img, Image.Image):
                raise RequestError(f"{what} must be a picture")
            if img.width * img.height > max_pixels:
                raise RequestError(f"the {what} is {img.width}x{img.height} = "
                                   f"{img.width * img.height} pixels, above the limit of "
                                   f"{max_pixels} (--max-image-pixels)")
            out[what] = imaging.to_rgb(img) if what == "image" else imaging.to_mask(img)
        if unit.image is None and mode == "txt2img":
            raise RequestError("needs an image (txt2img has no init image to use instead)")
        if not isinstance(unit.module, str) or not unit.module.strip():
            raise RequestError("module (the preprocessor) must be a name, e.g. 'none' or "
                               "'canny'")
        if not isinstance(unit.model, str) or not unit.model.strip() \
                or unit.model.strip().lower() == "none":
            raise RequestError("model must name a ControlNet or IP-Adapter model")
        out["module"], out["model"] = unit.module.strip(), unit.model.strip()
        weight = out["weight"] = _number("weight", unit.weight)
        if not 0 <= weight <= 2:
            raise RequestError(f"weight must be between 0 and 2, got {weight:g}")
        start = out["guidance_start"] = _number("guidance start", unit.guidance_start)
        end = out["guidance_end"] = _number("guidance end", unit.guidance_end)
        for name, v in (("guidance start", start), ("guidance end", end)):
            if not 0 <= v <= 1:
                raise RequestError(f"{name} must be between 0 and 1, got {v:g}")
        if start > end:
            raise RequestError(f"guidance start ({start:g}) is after guidance end ({end:g})")
        out["control_mode"] = control_mode(unit.control_mode)
        out["resize_mode"] = control_resize_mode(unit.resize_mode)
        res = float(_number("processor resolution", unit.processor_res))
        if res == -1:  # the extension's "default"
            res = 512.0
        if not res.is_integer() or not 64 <= res <= 2048:
            raise RequestError(f"processor resolution must be a whole number between 64 and "
                               f"2048, got {unit.processor_res!r}")
        out["processor_res"] = int(res)
        out["threshold_a"] = _number("threshold a", unit.threshold_a)
        out["threshold_b"] = _number("threshold b", unit.threshold_b)
        if not isinstance(unit.pixel_perfect, bool):
            raise RequestError(f"pixel perfect must be true or false, got "
                               f"{unit.pixel_perfect!r}")
    except RequestError as e:
        raise RequestError(f"{where}: {e}") from None
    return replace(unit, **out)
