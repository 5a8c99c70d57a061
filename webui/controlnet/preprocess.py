"""Preprocessors: what turns a unit's image into its control map (sd-webui-controlnet's
"module"). Built in: ``none`` (the image is the map) and ``canny`` (OpenCV); more come from the
models folder (depth) and from extensions (``register_preprocessor``).

A preprocessor is a function ``fn(image, resolution, threshold_a, threshold_b) -> image``:
RGB in, RGB out, thresholds of -1 meaning "its default". An extension's function may take
fewer of them, by those names (or ``**params``), and may answer a numpy array.

IP-Adapter units name no preprocessor of these: their image goes to the image encoder as it
is, and their module is one of ``IP_ADAPTER_MODULES`` (any ``ip-adapter*`` name), as
sd-webui-controlnet names it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from webui.errors import RequestError

log = logging.getLogger(__name__)

Preprocessor = Callable[[Image.Image, int, float, float], Image.Image]

#: IP-Adapter "modules" as the extension lists them (any ``ip-adapter*`` name is taken)
IP_ADAPTER_MODULES = ("ip-adapter-auto", "ip-adapter_clip_g", "ip-adapter_clip_h")


def is_ip_adapter_module(name) -> bool:
    return isinstance(name, str) and name.strip().lower().startswith("ip-adapter")


#: sd-webui-controlnet's defaults for canny's two thresholds
CANNY_LOW, CANNY_HIGH = 100, 200


def resize_short_side(image: Image.Image, resolution: int) -> Image.Image:
    """``image`` with its short side at ``resolution`` (the processor resolution), as the
    extension sizes a picture before detecting."""
    w, h = image.size
    scale = resolution / min(w, h)
    if scale == 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else
                        Image.Resampling.BICUBIC)


def none(image: Image.Image, resolution: int = 512, threshold_a: float = -1,
         threshold_b: float = -1) -> Image.Image:
    """The image is already the control map."""
    return image.convert("RGB")


def canny(image: Image.Image, resolution: int = 512, threshold_a: float = -1,
          threshold_b: float = -1) -> Image.Image:
    """Canny edges (white on black) at the processor resolution; thresholds default to
    100/200 as in sd-webui-controlnet."""
    import cv2

    # OpenCV takes thresholds on the gradient's scale (a few thousand at most): larger
    # ones mean "no edge" and would overflow its argument, so they are capped
    low = CANNY_LOW if threshold_a < 0 else min(threshold_a, 65535)
    high = CANNY_HIGH if threshold_b < 0 else min(threshold_b, 65535)
    # the colour picture, as sd-webui-controlnet passes it: OpenCV takes each pixel's
    # strongest channel gradient, so two colours of one grey (red on blue) still part
    rgb = np.ascontiguousarray(resize_short_side(image.convert("RGB"), resolution))
    edges = cv2.Canny(rgb, int(low), int(high))
    return Image.fromarray(edges).convert("RGB")


BUILT_IN: dict[str, Preprocessor] = {"none": none, "canny": canny}

#: what the UI and ``/controlnet/module_list`` show of each preprocessor: its control type
#: (sd-webui-controlnet's tag) and its sliders (resolution, threshold a, threshold b)
RESOLUTION = {"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8}
DETAILS: dict[str, dict] = {
    "none": {"tag": None, "sliders": []},
    "canny": {"tag": "Canny", "sliders": [
        RESOLUTION,
        {"name": "Low Threshold", "value": CANNY_LOW, "min": 1, "max": 255, "step": 1},
        {"name": "High Threshold", "value": CANNY_HIGH, "min": 1, "max": 255, "step": 1}]},
    "depth": {"tag": "Depth", "sliders": [RESOLUTION]},
}


def detail(name: str) -> dict:
    """{"tag": control type or None, "sliders": [...]} of a preprocessor (an extension's
    one: its resolution slider, no control type)."""
    if is_ip_adapter_module(name):
        return {"tag": "IP-Adapter", "sliders": []}
    return DETAILS.get(name, {"tag": None, "sliders": [RESOLUTION]})



@dataclass
class Preprocessors:
    """The preprocessors the app offers, by name: built-in ones, then those ``sources`` add
    (each a function returning ``{name: fn}``, called when asked, so an extension turned on
    later is seen)."""

    sources: list[Callable[[], dict[str, Preprocessor]]] = field(default_factory=list)

    def table(self) -> dict[str, Preprocessor]:
        out = dict(BUILT_IN)
        for source in self.sources:
            for name, fn in (source() or {}).items():
                out.setdefault(name, fn)  # a built-in name keeps its meaning
        return out

    def names(self) -> list[str]:
        return list(self.table())

    def canonical(self, name: str) -> str:
        """A listed name, any case -> the name; ``RequestError`` naming the choices."""
        table = self.table()
        for known in table:
            if isinstance(name, str) and name.strip().lower() == known.lower():
                return known
        raise RequestError(f"unknown preprocessor {name!r}; choose one of: "
                           f"{', '.join(table)}")

    def run(self, name: str, image: Image.Image, resolution: int = 512,
            threshold_a: float = -1, threshold_b: float = -1) -> Image.Image:
        """The control map of ``image`` by preprocessor ``name``. An extension's or a
        model's failure is a ``RequestError`` naming the preprocessor (logged in full)."""
        name = self.canonical(name)
        fn = self.table()[name]
        if name in BUILT_IN:
            return fn(image, resolution, threshold_a, threshold_b).convert("RGB")
        try:
            return as_picture(call(fn, image, resolution, threshold_a, threshold_b))
        except RequestError:
            raise
        except Exception as exc:  # noqa: BLE001 - someone else's code: say which failed
            log.exception("preprocessor %r failed", name)
            raise RequestError(f"preprocessor {name!r} failed: {exc}") from None


def call(fn, image: Image.Image, resolution: int, threshold_a: float, threshold_b: float):
    """``fn`` called with the parameters it takes: by name when it names them (or takes
    ``**params``), else the first ones by position."""
    params = {"resolution": resolution, "threshold_a": threshold_a, "threshold_b": threshold_b}
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: the full call
        return fn(image, resolution, threshold_a, threshold_b)
    kinds = [p.kind for p in signature.parameters.values()]
    if inspect.Parameter.VAR_KEYWORD in kinds:
        return fn(image, **params)
    named = {k: v for k, v in params.items() if k in signature.parameters}
    if named:
        return fn(image, **named)
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return fn(image, *params.values())
    return fn(image, *list(params.values())[:max(0, len(positional) - 1)])


def as_picture(value) -> Image.Image:
    """A preprocessor's answer (a PIL image or an HxW / HxWxC uint8-like array) as RGB."""
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    array = np.asarray(value)
    if array.ndim not in (2, 3) or array.size == 0:
        raise RequestError(f"a preprocessor answered no picture (an array of shape "
                           f"{array.shape})")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


def with_sources(sources: Iterable[Callable[[], dict]]) -> Preprocessors:
    return Preprocessors(list(sources))
