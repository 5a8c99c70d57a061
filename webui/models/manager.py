"""The model manager: the one place the engine gets pipelines from.

* Checkpoints stay in a RAM cache (LRU, within a budget); switching to a cached one moves it
  to the device without reading the file again, and the one switched away from leaves the
  device (its memory is given back).
* Modules with identical weights are shared, not copied: SDXL base and refiner share
  ``text_encoder_2`` and the VAE, and so do most fine-tunes of one base.
* LoRAs are diffusers/PEFT adapters on the resident UNet and text encoders: turning them on,
  changing weights or turning them off never reloads the base.
* VAEs are loaded once and swapped onto a pipeline per job.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from webui.models.loader import (ModelLoadError, load_pipeline, load_vae, resolve_device,
                                 resolve_dtype)
from webui.models.registry import (SDXL_BASE, SDXL_INPAINT, SDXL_REFINER, ModelInfo,
                                   ModelNotFound, ModelRegistry, is_hub_id)

log = logging.getLogger(__name__)

_MODE_PIPELINES = {
    "img2img": "StableDiffusionXLImg2ImgPipeline",
    "inpaint": "StableDiffusionXLInpaintPipeline",
}
SHARED_MODULES = ("vae", "text_encoder", "text_encoder_2")


@dataclass
class LoadedModel:
    """A checkpoint resident in RAM (and on the device while in use)."""

    info: ModelInfo
    short_hash: str
    pipe: object
    scheduler_config: dict  # the checkpoint's own scheduler config, samplers derive from it
    variants: dict = field(default_factory=dict)  # mode -> pipeline sharing ``pipe``'s modules
    adapters: dict = field(default_factory=dict)  # LoRA name -> adapter name in the UNet
    nbytes: int = 0  # bytes of weights this checkpoint holds that no other cached one shares
    default_vae: object = None  # the checkpoint's own VAE (a job may swap in another)

    def __post_init__(self):
        if self.default_vae is None:
            self.default_vae = self.pipe.vae

    def for_mode(self, mode: str):
        """The diffusers pipeline for ``mode``, sharing this model's modules (no copy, no load).

        ``txt2img`` -> StableDiffusionXLPipeline, ``img2img`` -> ...Img2ImgPipeline,
        ``inpaint`` -> ...InpaintPipeline (also used by outpaint). A refiner checkpoint is
        already an img2img pipeline.
        """
        import diffusers

        if mode == "txt2img" or type(self.pipe).__name__ == _MODE_PIPELINES.get(mode):
            return self.pipe
        if mode not in self.variants:
            cls = getattr(diffusers, _MODE_PIPELINES[mode])
            variant = cls.from_pipe(self.pipe)
            variant.set_progress_bar_config(disable=True)
            self.variants[mode] = variant
        return self.variants[mode]

    def modules(self):
        """The torch modules of this checkpoint (unet, vae, text encoders)."""
        for name in ("unet",) + SHARED_MODULES:
            m = getattr(self.pipe, name, None)
            if m is not None:
                yield name, m


def _key(info: ModelInfo) -> str:
    """Cache key: the resolved path (two names for one file are one model), or the hub id."""
    return info.name if info.format == "hub" else str(info.path.resolve())


def parse_cache_budget(text: str | None) -> tuple[int | None, int | None]:
    """``"3"`` -> keep 3 checkpoints; ``"12GB"``/``"12.5G"`` -> keep up to that many bytes;
    None -> half the RAM free now."""
    if text is None or str(text).strip() == "":
        try:
            import psutil

            return None, int(psutil.virtual_memory().available * 0.5)
        except ImportError:  # pragma: no cover - psutil is in requirements
            return 2, None
    text = str(text).strip().upper()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(G|GB|GIB|M|MB|MIB)", text)
    if m:
        scale = 2**30 if m[2].startswith("G") else 2**20
        return None, int(float(m[1]) * scale)
    if text.isdigit() and int(text) >= 1:
        return int(text), None
    raise ValueError(f"--ckpt-cache must be a count (e.g. 3) or a size (e.g. 12GB), got {text!r}")


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A fingerprint of a module's weights: names, shapes, dtypes and 64 evenly spaced values
    of every tensor. Equal for the same weights; a trained copy differs in nearly every value,
    so two different modules practically never collide, and it costs no full pass."""
    h = hashlib.sha1(type(module).__name__.encode())
    for name, t in module.state_dict().items():
        flat = t.detach().reshape(-1)
        step = max(1, flat.numel() // 64)
        sample = flat[::step][:64].to("cpu", torch.float32)
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(sample.numpy().tobytes())
    return h.hexdigest()


def module_bytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.state_dict().values())


class ModelManager:
    """Hands out ready pipelines; caches checkpoints in RAM, shares identical modules."""

    def __init__(self, registry: ModelRegistry, device: str = "auto", dtype: str = "auto",
                 default_checkpoint: str | None = None, cache: str | None = None,
                 offload: str = "auto"):
        self.registry = registry
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.default_checkpoint = default_checkpoint
        self.max_count, self.max_bytes = parse_cache_budget(cache)
        self.offload = self._choose_offload(offload)
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._on_device: set[str] = set()
        self._shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._vaes: dict[str, tuple[object, str]] = {}
        self._current: LoadedModel | None = None
        self._lock = threading.RLock()
        self.loads_from_disk = 0  # how many times a checkpoint file was read (tests, bench)

    def _choose_offload(self, offload: str) -> str:
        """``auto``: no offload when the GPU has room for base + refiner, model offload with
        6-12 GB free, sequential below that. CPU and MPS never offload."""
        if offload not in {"auto", "none", "model", "sequential"}:
            raise ValueError(f"--offload must be auto, none, model or sequential, got {offload}")
        if self.device.type != "cuda":
            return "none"
        if offload != "auto":
            return offload
        free, _ = torch.cuda.mem_get_info()
        return "none" if free >= 12 * 2**30 else "model" if free >= 6 * 2**30 else "sequential"

    # -- what is on disk -------------------------------------------------------------------
    def checkpoint_names(self) -> list[str]:
        """Checkpoints usable as a base (SDXL base, fine-tunes and inpainting models)."""
        return self.registry.names({SDXL_BASE, SDXL_INPAINT})

    def refiner_names(self) -> list[str]:
        """Refiner candidates: SDXL refiners first, then any base (A1111 allows both)."""
        return (self.registry.names({SDXL_REFINER})
                + self.registry.names({SDXL_BASE}))

    def lora_names(self) -> list[str]:
        return [m.name for m in self.registry.loras()]

    def vae_names(self) -> list[str]:
        return [m.name for m in self.registry.vaes()]

    def selected_checkpoint(self) -> str | None:
        """The checkpoint used when a request names none: current, --ckpt, else the first."""
        if self._current is not None:
            return self._current.info.name
        names = self.checkpoint_names()
        if self.default_checkpoint and (self.default_checkpoint in names
                                        or is_hub_id(self.default_checkpoint)):
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

    def cached_names(self) -> list[str]:
        return [lm.info.name for lm in self._cache.values()]

    def pipeline(self, checkpoint: str | None = None, mode: str | None = None) -> LoadedModel:
        """Return ``checkpoint`` (or the selected one) ready on the device as the base for
        ``mode`` (None: any mode, the caller picks the pipeline with ``for_mode``).

        From the RAM cache when it is there; else loaded from disk. A failed load leaves the
        cache and the current model as they were. A refiner can run img2img on its own
        ("refine this image"); an inpainting model only inpaints.
        """
        with self._lock:
            name = checkpoint or self.selected_checkpoint()
            if name is None:
                raise ModelNotFound(self.no_model_message())
            info = self.registry.get(name)
            if info.kind == SDXL_REFINER and mode not in (None, "img2img"):
                raise ModelLoadError(f"{info.name} is an SDXL refiner: choose it as Refiner, "
                                     "or use it in img2img to refine an image")
            if info.kind == SDXL_INPAINT and mode not in (None, "inpaint"):
                raise ModelLoadError(f"{info.name} is an SDXL inpainting model: use it in the "
                                     "Inpaint or Outpaint tab")
            lm = self._get(info)
            self._activate([lm])
            self._current = lm
            return lm

    def preload(self, checkpoint: str) -> LoadedModel:
        """Load ``checkpoint`` into the RAM cache and make it the selected one, ready on the
        device for the next job (what A1111 does when a client sets sd_model_checkpoint).
        Raises ``ModelNotFound``/``ModelLoadError`` with the reason; nothing changes then."""
        return self.pipeline(checkpoint)

    def refiner(self, name: str, base: LoadedModel) -> LoadedModel:
        """The refiner ``name`` resident beside ``base`` (both on the device when memory
        allows; with offload on, diffusers moves each to the GPU only while it runs)."""
        with self._lock:
            info = self.registry.get(name)
            if info.kind == SDXL_INPAINT:
                raise ModelLoadError(f"{info.name} is an inpainting model, not a refiner")
            lm = self._get(info)
            self._activate([base, lm])
            return lm

    def _get(self, info: ModelInfo) -> LoadedModel:
        key = _key(info)
        lm = self._cache.get(key)
        if lm is not None:
            self._cache.move_to_end(key)
            return lm
        log.info("loading checkpoint %s from %s", info.name, info.path)
        pipe = load_pipeline(info, self.dtype)  # raises before anything changes
        self.loads_from_disk += 1
        short_hash = self.registry.short_hash(info)
        nbytes = self._share_modules(pipe)
        lm = LoadedModel(info, short_hash, pipe, dict(pipe.scheduler.config), nbytes=nbytes)
        self._cache[key] = lm
        self._evict(keep=key)
        return lm

    def _share_modules(self, pipe) -> int:
        """Replace modules whose weights a cached checkpoint already holds by that module;
        return the bytes this pipeline adds to RAM."""
        added = module_bytes(pipe.unet)
        for name in SHARED_MODULES:
            module = getattr(pipe, name, None)
            if module is None:
                continue
            fp = f"{weights_fingerprint(module)}|{next(module.parameters()).dtype}"
            existing = self._shared.get(fp)
            if existing is not None and existing is not module:
                setattr(pipe, name, existing)
                log.info("sharing %s with an already loaded checkpoint", name)
            else:
                self._shared[fp] = module
                added += module_bytes(module)
        return added

    def _evict(self, keep: str) -> None:
        """Drop least-recently-used checkpoints beyond the budget (never ``keep``)."""
        def over() -> bool:
            if self.max_count is not None and len(self._cache) > self.max_count:
                return True
            if self.max_bytes is not None:
                return sum(lm.nbytes for lm in self._cache.values()) > self.max_bytes
            return False

        while over() and len(self._cache) > 1:
            key = next(k for k in self._cache if k != keep)
            lm = self._cache.pop(key)
            self._on_device.discard(key)
            if self._current is lm:
                self._current = None
            log.info("evicting %s from the RAM cache", lm.info.name)
            del lm
        gc.collect()
        self._empty_device_cache()

    def _activate(self, wanted: list[LoadedModel]) -> None:
        """Put ``wanted`` on the device and take every other cached checkpoint off it."""
        wanted_keys = {_key(lm.info) for lm in wanted}
        for key in list(self._on_device - wanted_keys):
            lm = self._cache.get(key)
            if lm is not None and self.device.type != "cpu":
                self._to(lm, torch.device("cpu"))
            self._on_device.discard(key)
        for lm in wanted:
            key = _key(lm.info)
            if key not in self._on_device:
                self._to(lm, self.device)
                self._on_device.add(key)
        self._empty_device_cache()

    def _to(self, lm: LoadedModel, device: torch.device) -> None:
        if device.type == "cuda" and self.offload == "model":
            lm.pipe.enable_model_cpu_offload(device=device)
        elif device.type == "cuda" and self.offload == "sequential":
            lm.pipe.enable_sequential_cpu_offload(device=device)
        else:
            lm.pipe.to(device)

    def _empty_device_cache(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload(self) -> None:
        """Drop every cached model and give the memory back."""
        with self._lock:
            self._cache.clear()
            self._on_device.clear()
            self._vaes.clear()
            self._current = None
            gc.collect()
            self._empty_device_cache()

    # -- LoRA -------------------------------------------------------------------------------
    def apply_loras(self, lm: LoadedModel, loras: list[tuple[str, float]]) -> list[tuple[ModelInfo, float]]:
        """Make exactly ``loras`` (name, weight) active on ``lm``; others are switched off.

        Adapters stay loaded once read, so switching back costs nothing and the base weights
        are never touched: with none active the output is bit-identical to no LoRA at all.
        """
        with self._lock:
            infos = [(self.registry.get(name, "Lora"), weight) for name, weight in loras]
            for info, _ in infos:
                if info.name not in lm.adapters:
                    adapter = re.sub(r"\W", "_", info.name)
                    try:
                        lm.pipe.load_lora_weights(str(info.path), adapter_name=adapter)
                    except Exception as exc:  # noqa: BLE001
                        raise ModelLoadError(f"could not load LoRA {info.name}: {exc}") from exc
                    lm.adapters[info.name] = adapter
            if not lm.adapters:
                return infos
            if infos:
                lm.pipe.enable_lora()
                lm.pipe.set_adapters([lm.adapters[i.name] for i, _ in infos],
                                     adapter_weights=[w for _, w in infos])
            else:
                lm.pipe.disable_lora()
            return infos

    # -- VAE --------------------------------------------------------------------------------
    def vae(self, name: str) -> tuple[object, ModelInfo]:
        """The VAE ``name`` loaded once and kept (VAEs are small), on the device."""
        with self._lock:
            info = self.registry.get(name, "VAE")
            key = str(info.path.resolve())
            if key not in self._vaes:
                vae = load_vae(info, self.dtype).to(self.device)
                self._vaes[key] = (vae, info)
            return self._vaes[key]


__all__ = ["LoadedModel", "ModelManager", "ModelLoadError", "ModelNotFound"]
