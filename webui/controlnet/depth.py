"""The ``depth`` preprocessor: a transformers depth-estimation model found in the models folder.

Nothing is downloaded. A depth model is a folder that ``AutoModelForDepthEstimation`` and
``AutoImageProcessor`` load (``config.json`` with a depth ``model_type`` such as
``depth_anything`` or ``dpt``, ``preprocessor_config.json`` and the weights), placed in

* ``models/ControlNet/annotators/<name>/`` (beside the ControlNet models), or
* ``models/depth/<name>/``.

The first folder found (those places in that order, names sorted) is ``depth``. The map is
ControlNet's depth convention: near is white, far is black, at the processor resolution.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from PIL import Image

from webui.controlnet.preprocess import Preprocessor, resize_short_side

log = logging.getLogger(__name__)

#: where depth models are looked for, under the models folder
DEPTH_FOLDERS = ("ControlNet/annotators", "depth")
#: transformers model types of depth estimation (used when transformers' own table is absent)
_KNOWN_TYPES = {"depth_anything", "depth_pro", "dpt", "glpn", "zoedepth",
                "prompt_depth_anything"}


def _depth_types() -> set[str]:
    try:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES as names)
        return set(names) | _KNOWN_TYPES
    except Exception:  # noqa: BLE001 - an older or newer layout: the known list
        return set(_KNOWN_TYPES)


def is_depth_model(folder: Path) -> bool:
    """True if ``folder`` holds a transformers depth model with its image processor."""
    config = folder / "config.json"
    if not config.is_file() or not (folder / "preprocessor_config.json").is_file():
        return False
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return False
    return model_type in _depth_types()


def find_depth_models(models_dir: Path) -> list[Path]:
    """Every depth model folder under ``models_dir``, in the order they are preferred."""
    out = []
    for sub in DEPTH_FOLDERS:
        root = Path(models_dir) / sub
        if root.is_dir():
            out += [p for p in sorted(root.iterdir()) if p.is_dir() and is_depth_model(p)]
    return out


class DepthEstimator:
    """One depth model, loaded on first use (on the CPU) and kept."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._loaded = None

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from transformers import AutoImageProcessor, AutoModelForDepthEstimation

                log.info("loading depth model %s", self.folder)
                processor = AutoImageProcessor.from_pretrained(self.folder,
                                                               local_files_only=True)
                model = AutoModelForDepthEstimation.from_pretrained(self.folder,
                                                                    local_files_only=True)
                self._loaded = (processor, model.eval())
            return self._loaded

    def __call__(self, image: Image.Image, resolution: int = 512, threshold_a: float = -1,
                 threshold_b: float = -1) -> Image.Image:
        import numpy as np
        import torch

        processor, model = self._load()
        picture = resize_short_side(image.convert("RGB"), resolution)
        inputs = processor(images=picture, return_tensors="pt")
        with torch.inference_mode():
            depth = model(**inputs).predicted_depth
        # the model's output is at its own input size: back to the picture's
        depth = torch.nn.functional.interpolate(
            depth.reshape(1, 1, *depth.shape[-2:]).float(),
            size=(picture.height, picture.width), mode="bicubic", align_corners=False)[0, 0]
        low, high = float(depth.min()), float(depth.max())
        scaled = (depth - low) / (high - low) if high > low else torch.zeros_like(depth)
        pixels = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        return Image.fromarray(np.ascontiguousarray(pixels), "L").convert("RGB")


class DepthSource:
    """A ``Preprocessors`` source: ``{"depth": fn}`` while a depth model is in the models
    folder, else nothing (read each time it is asked, so a model copied in is seen)."""

    def __init__(self, models_dir: Path):
        self.models_dir = Path(models_dir)
        self._estimators: dict[Path, DepthEstimator] = {}

    def __call__(self) -> dict[str, Preprocessor]:
        found = find_depth_models(self.models_dir)
        if not found:
            return {}
        folder = found[0]
        if folder not in self._estimators:
            self._estimators[folder] = DepthEstimator(folder)
        return {"depth": self._estimators[folder]}
