"""Preprocessors: what turns a unit's image into its control map (sd-webui-controlnet's
"module"). Built in: ``none`` (the image is the map) and ``canny`` (OpenCV); more come from the
models folder (depth) and from extensions (``register_preprocessor``).

A preprocessor is a function ``fn(image, resolution, threshold_a, threshold_b) -> image``:
RGB in, RGB out, thresholds of -1 meaning "its default".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from webui.errors import RequestError

Preprocessor = Callable[[Image.Image, int, float, float], Image.Image]

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

    low = CANNY_LOW if threshold_a < 0 else threshold_a
    high = CANNY_HIGH if threshold_b < 0 else threshold_b
    gray = np.asarray(resize_short_side(image.convert("RGB"), resolution).convert("L"))
    edges = cv2.Canny(gray, int(low), int(high))
    return Image.fromarray(edges).convert("RGB")


BUILT_IN: dict[str, Preprocessor] = {"none": none, "canny": canny}


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
        """The control map of ``image`` by preprocessor ``name``."""
        fn = self.table()[self.canonical(name)]
        return fn(image, resolution, threshold_a, threshold_b).convert("RGB")


def with_sources(sources: Iterable[Callable[[], dict]]) -> Preprocessors:
    return Preprocessors(list(sources))
