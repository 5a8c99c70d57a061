"""Detectors for the output filter's tests, written against ``webui.safety.Detector``."""

from __future__ import annotations

import numpy as np
from PIL import Image

from webui.safety import Finding


def redness(image: Image.Image) -> float:
    """Mean red minus the mean of green and blue."""
    a = np.asarray(image.convert("RGB"), dtype=float)
    return float(a[..., 0].mean() - a[..., 1:].mean())


class RedDetector:
    """Flags pictures redder than ``above``."""

    name = "mean red"

    def __init__(self, above: float = 0.0):
        self.above = above

    def detect(self, image: Image.Image) -> list[Finding]:
        if redness(image) <= self.above:
            return []
        return [Finding("RED", 0.9, (0, 0, image.width, image.height))]


def flag_everything() -> RedDetector:
    """A factory for ``--safety-checker tests.safety.detectors:flag_everything``."""
    return RedDetector(above=-1e9)


class Broken:
    """A detector whose model is missing."""

    name = "broken"

    def detect(self, image):
        raise RuntimeError("model file missing")
