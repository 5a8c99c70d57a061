"""The model manager: the one place the engine gets pipelines from.

This first version keeps one checkpoint resident and loads another on demand; the RAM cache,
refiner, LoRA and VAE handling extend ``pipeline()`` rather than adding a second path.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field

import torch

from webui.models.loader import ModelLoadError, load_pipeline, resolve_device, resolve_dtype
from webui.models.registry import CheckpointInfo, CheckpointRegistry, ModelNotFound

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A pipeline ready on the device, with what the infotext needs to name it."""

    info: CheckpointInfo
    short_hash: str
    pipe: object
    scheduler_config: dict  # the checkpoint's own scheduler config, samplers derive from it
    variants: dict = field(default_factory=dict)  # mode -> pipeline sharing ``pipe``'s modules

    def for_mode(self, mode: str):
        """The diffusers pipeline for ``mode``, sharing this model's modules (no copy, no load).

        ``txt2img`` -> StableDiffusionXLPipeline, ``img2img`` -> ...Img2ImgPipeline,
        ``inpaint`` -> ...InpaintPipeline (also used by outpaint).
        """
        if mode == "txt2img":
            return self.pipe
        if mode not in self.variants:
            import diffusers

            cls = getattr(diffusers, _MODE_PIPELINES[mode])
            variant = cls.from_pipe(self.pipe)
            variant.set_progress_bar_config(disable=True)
            self.variants[mode] = variant
        return self.variants[mode]


_MODE_PIPELINES = {
    "img2img": "StableDiffusionXLImg2ImgPipeline",
    "inpaint": "StableDiffusionXLInpaintPipeline",
}


class ModelManager:
    """Hands out ready pipelines; loads lazily, frees the previous model on a switch."""

    def __init__(self, registry: CheckpointRegistry, device: str = "auto", dtype: str = "auto",
                 default_checkpoint: str | None = None):
        self.registry = registry
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.default_checkpoint = default_checkpoint
        self._current: LoadedModel | None = None
        self._lock = threading.RLock()

    # -- what is on disk -------------------------------------------------------------------
    def checkpoint_names(self) -> list[str]:
        return self.registry.names()

    def selected_checkpoint(self) -> str | None:
        """The checkpoint used when a request names none: current, --ckpt, else the first."""
        if self._current is not None:
            return self._current.info.name
        names = self.checkpoint_names()
        if self.default_checkpoint and self.default_checkpoint in names:
            return self.default_checkpoint
        return names[0] if names else None

    def no_model_message(self) -> str:
        return (f"No checkpoint found. Put an SDXL checkpoint (a diffusers folder or a "
                f"single .safetensors file) in {self.registry.root.resolve()} and press "
                "Refresh.")

    # -- what is resident -------------------------------------------------------------------
    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def pipeline(self, checkpoint: str | None = None) -> LoadedModel:
        """Return ``checkpoint`` (or the selected one) ready on the device, loading it if needed.

        A failed load leaves the current model in place.
        """
        with self._lock:
            name = checkpoint or self.selected_checkpoint()
            if name is None:
                raise ModelNotFound(self.no_model_message())
            info = self.registry.get(name)
            if self._current is not None and self._current.info == info:
                return self._current
            short_hash = self.registry.short_hash(info)
            log.info("loading checkpoint %s from %s", info.name, info.path)
            pipe = load_pipeline(info, self.dtype)  # raises before we touch the current one
            self.unload()
            pipe.to(self.device)
            self._current = LoadedModel(info, short_hash, pipe, dict(pipe.scheduler.config))
            return self._current

    def unload(self) -> None:
        """Drop the resident model and give its memory back."""
        with self._lock:
            if self._current is None:
                return
            self._current = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


__all__ = ["LoadedModel", "ModelManager", "ModelLoadError", "ModelNotFound"]
