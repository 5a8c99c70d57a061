"""The model manager: the one place the engine gets models from.

* Checkpoints stay in a RAM cache (LRU, within a budget); a cached one is never read from
  disk again.
* Modules with identical weights are shared, not copied: SDXL base and refiner share
  ``text_encoder_2`` and the VAE, and so do most fine-tunes of one base.
* Device placement is per module (``placement.DevicePlacer``): before a job exactly the
  modules it calls are on the device; others leave only when the device budget needs room.
* A job asks once: ``with manager.prepare(JobModels(...)) as bundle`` gives per-job pipeline
  views (the job's scheduler and VAE), the refiner, active LoRAs and the infotext keys.
* LoRAs are PEFT adapters per module: switching them never reloads or changes base weights.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from webui.controlnet.preprocess import Preprocessors
from webui.errors import RequestError
from webui.models import adapters, control
from webui.models.bundle import JobBundle, JobModels
from webui.models.loader import (ModelLoadError, load_pipeline, load_vae, resolve_device,
                                 resolve_dtype)
from webui.models.placement import DevicePlacer, module_bytes
from webui.models.registry import (SDXL_BASE, SDXL_INPAINT, SDXL_NATIVE_SIZE, SDXL_REFINER,
                                   ModelInfo, ModelNotFound, ModelRegistry)
from webui.models.speed import SpeedOptions, apply_on_load, set_fused

log = logging.getLogger(__name__)

_MODE_PIPELINES = {
    "txt2img": "StableDiffusionXLPipeline",
    "img2img": "StableDiffusionXLImg2ImgPipeline",
    "inpaint": "StableDiffusionXLInpaintPipeline",
}
SHARED_MODULES = ("vae", "text_encoder", "text_encoder_2")
MODULE_NAMES = ("unet",) + SHARED_MODULES
FP16_FIX_VAE = re.compile(r"fp16[-_ ]?fix", re.IGNORECASE)


@dataclass
class LoadedModel:
    """A checkpoint resident in RAM. ``pipe`` is never changed by a job: jobs get views."""

    info: ModelInfo
    short_hash: str
    pipe: object
    scheduler_config: dict  # the checkpoint's own scheduler config, samplers derive from it
    nbytes: int = 0  # bytes of weights this checkpoint holds that no other cached one shares
    unet_slots: dict = field(default_factory=dict)  # compiled UNet: adapter slot -> LoRA name

    @property
    def default_vae(self):
        return self.pipe.vae

    def modules(self):
        """The torch modules of this checkpoint (unet, vae, text encoders)."""
        for name in MODULE_NAMES:
            m = getattr(self.pipe, name, None)
            if m is not None:
                yield name, m

    def view(self, mode: str, **components):
        """A new diffusers pipeline of ``mode``'s family over this checkpoint's modules
        (no copy, no load), with ``components`` (scheduler, vae) replaced in the view only.
        An inpainting checkpoint stays an inpainting pipeline; a refiner an img2img one."""
        import diffusers

        own = type(self.pipe).__name__
        if own == _MODE_PIPELINES["inpaint"] and mode != "inpaint":
            raise ModelLoadError(f"{self.info.name} is an SDXL inpainting model: use it in "
                                 "the Inpaint or Outpaint tab")
        cls = getattr(diffusers, _MODE_PIPELINES[mode])
        # built directly, not with from_pipe: from_pipe casts every module to float32 unless
        # told otherwise, which would change the shared cached modules of an fp16 model
        expected, optional = cls._get_signature_keys(cls)
        parts = {k: v for k, v in self.pipe.components.items() if k in expected}
        parts.update(components)
        for name in expected:
            parts.setdefault(name, None)  # image_encoder, feature_extractor: unused
        config = {k: self.pipe.config[k] for k in optional if k in self.pipe.config}
        if "add_watermarker" in optional:
            config["add_watermarker"] = False  # provenance lives in the metadata
        view = cls(**parts, **config)
        view.set_progress_bar_config(disable=True)
        return view


@dataclass
class LoadedControl:
    """A ControlNet (a torch module, placed like a UNet), an IP-Adapter (its state dict,
    loaded into the job's UNet per job) or the CLIP image encoder, resident in RAM."""

    label: str  # the model's name (the encoder: "image encoder <folder>")
    kind: str  # controlnet, controlnet-union, ip-adapter, image-encoder
    model: object
    short_hash: str = ""
    nbytes: int = 0

    @property
    def title(self) -> str:
        return f"{self.label} [{self.short_hash}]"

    @property
    def module(self):
        return self.model if isinstance(self.model, torch.nn.Module) else None


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




def default_device_budget(device: torch.device) -> int | None:
    """Bytes of weights kept on a GPU: its memory less room for activations (the larger of
    4 GiB and 20%), so the VAE decode of a batch at 1024x1024 still fits. On Apple's MPS the
    memory is the recommended working set (shared with the RAM cache)."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
    elif device.type == "mps":
        total = torch.mps.recommended_max_memory()
    else:
        return None
    return max(0, int(total - max(4 * 2**30, 0.2 * total)))


class ModelManager:
    """Hands out ready job bundles; caches checkpoints in RAM, shares identical modules,
    places modules on the device per job."""

    def __init__(self, registry: ModelRegistry, device: str = "auto", dtype: str = "auto",
                 cache: str | None = None,
                 offload: str = "auto", device_budget: int | None = None,
                 compile: bool | str = False, fuse_qkv: bool = False,
                 channels_last: bool | None = None):
        self.registry = registry
        # "meta" stands in for a GPU in the placement tests: weights moved there lose their
        # values, but the manager keeps the RAM copies, so they come back intact
        self.device = torch.device(device) if device == "meta" else resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_count, self.max_bytes = parse_cache_budget(cache)
        self.offload = self._choose_offload(offload)
        self.speed = SpeedOptions.for_device(self.device, compile, fuse_qkv, channels_last)
        # with --offload, accelerate's hooks move modules while they run: we place none
        placer_device = self.device if self.offload == "none" else torch.device("cpu")
        self.placer = DevicePlacer(placer_device, device_budget
                                   if device_budget is not None
                                   else default_device_budget(self.device))
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._vaes: dict[str, tuple[object, ModelInfo]] = {}
        self._current: LoadedModel | None = None
        # the only checkpoints jobs may name (a hosted demo's --demo-models); None: any
        self.offered: tuple[str, ...] | None = None
        self._lock = threading.RLock()
        self.loads_from_disk = 0  # how many times a checkpoint file was read (tests, bench)
        # ControlNets, IP-Adapters and the CLIP image encoder: key -> LoadedControl, LRU
        self._controls: OrderedDict[str, LoadedControl] = OrderedDict()
        self.control_loads_from_disk = 0  # ControlNet/IP-Adapter/encoder reads
        self._used: dict[str, int] = {}  # cache key -> last use (one LRU over both caches)
        self._tick = 0
        # what turns a unit's image into its control map (extensions add more)
        self.preprocessors = Preprocessors()

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
        return self._offered(self.registry.names({SDXL_BASE, SDXL_INPAINT}))

    def refiner_names(self) -> list[str]:
        """Refiner candidates: SDXL refiners first, then any base (A1111 allows both)."""
        return self._offered(self.registry.names({SDXL_REFINER})
                             + self.registry.names({SDXL_BASE}))

    def _offered(self, names: list[str]) -> list[str]:
        return names if self.offered is None else [n for n in names if n in self.offered]

    def check_offered(self, name: str | None) -> None:
        """Raise ``ModelNotFound`` when ``name`` is a checkpoint this app does not offer."""
        if name is not None and self.offered is not None and name not in self.offered:
            raise ModelNotFound(f"this demo offers only {', '.join(self.offered) or 'none'}; "
                                f"{name!r} cannot be chosen here")

    def lora_names(self) -> list[str]:
        return [m.name for m in self.registry.loras()]

    def vae_names(self) -> list[str]:
        return [m.name for m in self.registry.vaes()]

    # -- ControlNet / IP-Adapter models ---------------------------------------------------------
    def control_models(self) -> list[control.ControlModel]:
        """The usable ControlNets (plain and union) and IP-Adapters, by name, each with its
        short hash, ``kind`` and ``title`` (``name [hash]``). Unusable files (SD 1.5, other
        layouts) are left out here and shown with their reason in the Models tab."""
        return [control.ControlModel(i, self.registry.short_hash(i))
                for i in self.registry.control_scan()
                if i.kind in control.CONTROL_KINDS and not i.problem]

    def resolve_control_model(self, name: str) -> control.ControlModel:
        """The model a unit names: ``name [hash]`` or the bare name, any case, with or
        without its extension. ``RequestError`` naming the choices (or the reason a file
        of that name is refused)."""
        if not isinstance(name, str) or not name.strip():
            raise RequestError("a unit must name a ControlNet or IP-Adapter model")
        for info in self.registry.control_scan():
            if control.matches(info, name.strip()):
                if info.problem or info.kind not in control.CONTROL_KINDS:
                    raise RequestError(f"ControlNet model {info.name!r} cannot be used: "
                                       f"{info.problem or info.kind}")
                return control.ControlModel(info, self.registry.short_hash(info))
        titles = [m.title for m in self.control_models()]
        raise RequestError(
            f"unknown ControlNet/IP-Adapter model {name!r}; choose one of: "
            f"{', '.join(titles)}" if titles else
            f"unknown ControlNet/IP-Adapter model {name!r}: none is installed; put SDXL "
            f"ControlNets in {self.registry.control_dir.resolve()} and IP-Adapters in "
            f"{self.registry.ipadapter_dir.resolve()}")

    def cached_control_names(self) -> list[str]:
        return [lc.label for lc in self._controls.values()]

    def native_size(self, checkpoint: str | None) -> int:
        """The square size (pixels) ``checkpoint`` draws best at, from its configs without
        loading it (see ``ModelRegistry.native_size``); SDXL's 1024 when there is no such
        checkpoint."""
        if not checkpoint:
            return SDXL_NATIVE_SIZE
        try:
            return self.registry.native_size(self.registry.get(checkpoint))
        except ModelNotFound:
            return SDXL_NATIVE_SIZE

    def no_model_message(self) -> str:
        return (f"No checkpoint found. Put an SDXL checkpoint (a diffusers folder or a "
                f"single .safetensors file) in {self.registry.root.resolve()} and press "
                "Refresh. For a quick look without weights, `python -m "
                f"webui.testing.demo_model install {self.registry.root.parent.resolve()}` "
                "adds a small demo model that draws coloured shapes.")

    # -- what is resident -------------------------------------------------------------------
    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def cached_names(self) -> list[str]:
        return [lm.info.name for lm in self._cache.values()]

    def preload(self, checkpoint: str) -> LoadedModel:
        """Load ``checkpoint`` into the RAM cache, make it the selected one and put its
        modules on the device for the next job (what A1111 does when a client sets
        sd_model_checkpoint). Raises ``ModelNotFound``/``ModelLoadError`` with the reason;
        nothing changes then."""
        with self._lock:
            kind = self.registry.get(checkpoint).kind
            mode = {SDXL_INPAINT: "inpaint", SDXL_REFINER: "img2img"}.get(kind, "txt2img")
            with self.prepare(JobModels(checkpoint, modes=(mode,))) as bundle:
                return bundle.base

    # -- one call per job ---------------------------------------------------------------------
    @contextlib.contextmanager
    def prepare(self, job: JobModels):
        """Everything ``job`` runs with, ready on the device and held for the block.

        Loads what the RAM cache lacks (a failed load changes nothing), sets the LoRAs of
        every module the job calls, builds per-job pipeline views with the job's scheduler
        and VAE, and places exactly the job's modules on the device (pinned until the block
        ends; others leave the device only when the budget needs the room).
        """
        with self._lock:
            bundle = self._assemble(job)
            restore = self._attach_ip_adapters(bundle)
            try:
                modules = bundle.modules()
                with self.placer.use(modules):
                    release = self._enable_offload(bundle)
                    try:
                        yield bundle
                    finally:
                        release()
                        self._empty_device_cache()
            finally:
                if restore is not None:
                    with self.placer.off_device(bundle.base.pipe.unet):
                        restore()

    def _assemble(self, job: JobModels) -> JobBundle:
        # the app's checkpoint choice (webui.checkpoint_choice) names it before a job gets here
        if job.checkpoint is None:
            raise ModelNotFound(self.no_model_message() if not self.checkpoint_names() else
                                "the job names no checkpoint: choose one")
        self.check_offered(job.checkpoint)
        self.check_offered(job.refiner)
        info = self.registry.get(job.checkpoint)
        main = job.modes[0]
        if info.kind == SDXL_REFINER and set(job.modes) - {"img2img"}:
            raise ModelLoadError(f"{info.name} is an SDXL refiner: choose it as Refiner, "
                                 "or use it in img2img to refine an image")
        if info.kind == SDXL_INPAINT and set(job.modes) - {"inpaint"}:
            raise ModelLoadError(f"{info.name} is an SDXL inpainting model: use it in the "
                                 "Inpaint or Outpaint tab")
        rinfo = self.registry.get(job.refiner) if job.refiner else None
        if rinfo is not None and rinfo.kind == SDXL_INPAINT:
            raise ModelLoadError(f"{rinfo.name} is an inpainting model, not a refiner")
        lora_infos = [(self.registry.get(n, "Lora"), w) for n, w in job.loras]
        keep = {_key(info)} | ({_key(rinfo)} if rinfo else set())
        base = self._get(info, keep)
        refiner = self._get(rinfo, keep) if rinfo else None
        self._current = base
        params: dict = {}
        vae, vae_info = self._job_vae(job, base)
        if vae_info is not None:
            params["VAE hash"] = self.registry.short_hash(vae_info)
            params["VAE"] = vae_info.name
        self._set_loras(base, refiner, lora_infos)
        if lora_infos:
            params["Lora hashes"] = ", ".join(
                f"{i.name}: {self.registry.lora_hash(i)}" for i, _ in lora_infos)

        def scheduler(lm):
            return {"scheduler": job.make_scheduler(lm.scheduler_config)} \
                if job.make_scheduler else {}

        pipes = {mode: base.view(mode, vae=vae, **scheduler(base)) for mode in job.modes}
        bundle = JobBundle(base, pipes, vae, loras=lora_infos, params=params)
        bundle.controls = [self._get_control(self.resolve_control_model(n), keep)
                           for n in job.controls]
        if any(c.kind == control.IP_ADAPTER for c in bundle.controls):
            bundle.image_encoder = self._image_encoder(keep).model
        for key in [_key(info)] + [k for k, c in self._controls.items()
                                   if any(c is b for b in bundle.controls)]:
            self._touch(key)
        if refiner is not None:
            bundle.refiner = refiner
            bundle.refiner_pipe = refiner.view("img2img", vae=vae, **scheduler(refiner))
            params["Refiner"] = f"{refiner.info.name} [{refiner.short_hash}]"
            params["Refiner switch at"] = job.refiner_switch_at
        log.debug("job bundle: %s for %s", info.name, main)
        return bundle

    def _touch(self, key: str) -> None:
        self._tick += 1
        self._used[key] = self._tick

    def _get_control(self, model: control.ControlModel, keep: set[str]) -> LoadedControl:
        """A ControlNet or IP-Adapter from the RAM cache, read from disk only when absent.
        ``keep`` gains its key (the job's models are never evicted for each other)."""
        key = "control:" + str(model.path.resolve())
        keep.add(key)
        lc = self._controls.get(key)
        if lc is None:
            log.info("loading %s %s from %s", model.kind, model.name, model.path)
            loaded = control.load_control_model(model.info, self.dtype)
            self.control_loads_from_disk += 1
            lc = LoadedControl(model.name, model.kind, loaded, model.hash)
            self._hold(key, lc, keep)
        self._controls.move_to_end(key)
        self._touch(key)
        return lc

    def _image_encoder(self, keep: set[str]) -> LoadedControl:
        folder = control.find_image_encoder(self.registry.ipadapter_dir,
                                            self.registry.clip_vision_dir)
        if folder is None:
            raise RequestError(
                "IP-Adapter needs its CLIP image encoder: put the transformers "
                "CLIPVisionModelWithProjection folder (config.json + model.safetensors) at "
                f"{(self.registry.ipadapter_dir / 'image_encoder').resolve()}")
        key = "image-encoder:" + str(folder.resolve())
        keep.add(key)
        lc = self._controls.get(key)
        if lc is None:
            encoder = control.load_image_encoder(folder, self.dtype)
            self.control_loads_from_disk += 1
            lc = LoadedControl(f"image encoder {folder.name}", "image-encoder", encoder)
            self._hold(key, lc, keep)
        self._controls.move_to_end(key)
        self._touch(key)
        return lc

    def _hold(self, key: str, lc: LoadedControl, keep: set[str]) -> None:
        if lc.module is not None:
            lc.nbytes = module_bytes(lc.module)
            self.placer.track(lc.module, key, lc.label)
        else:  # an IP-Adapter state dict: RAM only, it rides into the UNet per job
            lc.nbytes = sum(t.numel() * t.element_size() for part in lc.model.values()
                            for t in part.values())
        self._controls[key] = lc
        self._touch(key)
        self._evict(keep | {key})

    def _attach_ip_adapters(self, bundle: JobBundle):
        """Load the job's IP-Adapters into the base UNet (taken off the device for it, as
        LoRAs are); returns the call that removes them after the job, or None."""
        ips = [c for c in bundle.controls if c.kind == control.IP_ADAPTER]
        if not ips:
            return None
        unet = bundle.base.pipe.unet
        want = unet.config.cross_attention_dim
        for c in ips:
            have = control.ip_cross_dim(c.model)
            if have is not None and have != want:
                raise RequestError(f"IP-Adapter {c.label} is made for a cross-attention "
                                   f"width of {have}, this checkpoint's UNet has {want}")
        with self.placer.off_device(unet):
            return control.attach_ip_adapters(unet, [c.model for c in ips],
                                              next(unet.parameters()).dtype)

    def _get(self, info: ModelInfo, keep: set[str]) -> LoadedModel:
        key = _key(info)
        lm = self._cache.get(key)
        if lm is not None:
            self._cache.move_to_end(key)
            self._touch(key)
            return lm
        log.info("loading checkpoint %s from %s", info.name, info.path)
        pipe = load_pipeline(info, self.dtype)  # raises before anything changes
        self.loads_from_disk += 1
        short_hash = self.registry.short_hash(info)
        nbytes, new = self._share_modules(pipe)
        for name in new:
            apply_on_load(name, getattr(pipe, name), self.speed)
        lm = LoadedModel(info, short_hash, pipe, dict(pipe.scheduler.config), nbytes=nbytes)
        for name, module in lm.modules():
            self.placer.track(module, key, f"{info.name}.{name}")
        self._cache[key] = lm
        self._touch(key)
        self._evict(keep | {key})
        return lm

    def _share_modules(self, pipe) -> tuple[int, list[str]]:
        """Replace modules whose weights a cached checkpoint already holds by that module;
        return the bytes this pipeline adds to RAM and the names of its new modules."""
        added = 0
        new = []
        for name in MODULE_NAMES:
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
                new.append(name)
        return added, new

    def _evict(self, keep: set[str]) -> None:
        """Drop least-recently-used models beyond the RAM budget (never ``keep``). A size
        budget counts checkpoints, ControlNets and IP-Adapters together (one LRU); a count
        budget counts checkpoints only (it is "keep N checkpoints")."""
        def over_count() -> bool:
            return self.max_count is not None and len(self._cache) > self.max_count

        def over_bytes() -> bool:
            return self.max_bytes is not None and (
                sum(lm.nbytes for lm in self._cache.values())
                + sum(lc.nbytes for lc in self._controls.values())) > self.max_bytes

        while over_count() or over_bytes():
            pool = list(self._cache) if over_count() else \
                list(self._cache) + list(self._controls)
            victims = sorted((k for k in pool if k not in keep),
                             key=lambda k: self._used.get(k, 0))
            if not victims:
                break
            key = victims[0]
            self._used.pop(key, None)
            self.placer.forget(key)
            if key in self._controls:
                lc = self._controls.pop(key)
                log.info("evicting %s from the RAM cache", lc.label)
                del lc
                continue
            lm = self._cache.pop(key)
            if self._current is lm:
                self._current = None
            log.info("evicting %s from the RAM cache", lm.info.name)
            del lm
        gc.collect()
        self._empty_device_cache()

    def _enable_offload(self, bundle: JobBundle):
        """With ``--offload model|sequential`` accelerate's hooks move each module to the GPU
        while it runs (model: whole modules in one chain over the job's modules, each
        shared module hooked once; sequential: layer by layer). Returns the release call
        that takes the hooks off after the job."""
        if self.offload == "none":
            return lambda: None
        from accelerate import cpu_offload, cpu_offload_with_hook
        from accelerate.hooks import remove_hook_from_module

        modules = bundle.modules()
        hooks = []
        if self.offload == "model":
            hook = None
            for module in modules:
                _, hook = cpu_offload_with_hook(module, self.device, prev_module_hook=hook)
                hooks.append(hook)
        else:
            for module in modules:
                cpu_offload(module, execution_device=self.device)

        def release():
            for hook in hooks:
                hook.offload()
            for module in modules:
                remove_hook_from_module(module, recurse=True)

        return release

    def _empty_device_cache(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload(self) -> None:
        """Drop every cached model and give the memory back."""
        with self._lock:
            for key in list(self._cache):
                self.placer.forget(key)
            for key in list(self._vaes) + list(self._controls):
                self.placer.forget(key)
            self._cache.clear()
            self._vaes.clear()
            self._controls.clear()
            self._used.clear()
            self._current = None
            gc.collect()
            self._empty_device_cache()

    # -- LoRA -------------------------------------------------------------------------------
    def _set_loras(self, base: LoadedModel, refiner: LoadedModel | None,
                   loras: list[tuple[ModelInfo, float]]) -> None:
        """Make exactly ``loras`` active on the base's UNet and text encoders and switch
        every other adapter off in each module the job calls (a text encoder shared with
        another checkpoint may carry adapters that checkpoint's jobs loaded)."""
        lora_files: dict[str, tuple] = {}
        for target, module in base.modules():
            if target not in adapters.LORA_TARGETS:
                continue
            names, weights = [], []
            if target == "unet" and self.speed.compile:
                names, weights = self._hotswap_unet(base, loras, lora_files)
                if names:
                    adapters.set_slot_weights(module, names, weights)
                continue
            else:
                for info, weight in loras:
                    name = adapters.adapter_name(info.name)
                    if name not in adapters.loaded_adapters(module):
                        data = self._read_lora(base, info, lora_files)
                        with self.placer.off_device(module):
                            if not adapters.inject(type(base.pipe), target, module, data, name):
                                continue
                    names.append(name)
                    weights.append(weight)
            adapters.activate(module, names, weights)
            if target == "unet":
                set_fused(module, fused=not names)
        if refiner is not None:
            own = {id(m) for _, m in base.modules()}
            for target, module in refiner.modules():
                if target in adapters.LORA_TARGETS and id(module) not in own:
                    adapters.activate(module, [], [])  # LoRAs apply to the base only

    def _read_lora(self, base: LoadedModel, info: ModelInfo, files: dict) -> tuple:
        if info.name not in files:
            files[info.name] = adapters.read_lora(type(base.pipe), str(info.path),
                                                  base.pipe.unet.config)
        return files[info.name]

    def _hotswap_unet(self, base: LoadedModel, loras, files) -> tuple[list, list]:
        """Compiled UNet: LoRAs live in fixed adapter slots, all always active; a new LoRA
        is hotswapped into a slot this job does not use, unused slots get weight 0, so
        changing LoRAs never recompiles (a job with more LoRAs than slots adds one)."""
        unet = base.pipe.unet
        wanted = {info.name: w for info, w in loras}
        slots = base.unet_slots
        for info, _ in loras:
            if info.name in slots.values():
                continue
            free = next((s for s, n in slots.items() if n not in wanted), None)
            data = self._read_lora(base, info, files)
            with self.placer.off_device(unet):
                slot = free or f"slot{len(slots)}"
                if adapters.inject(type(base.pipe), "unet", unet, data, slot,
                                   hotswap=free is not None):
                    slots[slot] = info.name
        names = list(slots)
        return names, [wanted.get(slots[s], 0.0) for s in names]

    # -- VAE --------------------------------------------------------------------------------
    def _job_vae(self, job: JobModels, base: LoadedModel):
        """The job's VAE: the override, else on fp16 the fp16-fix SDXL VAE when one is in
        the VAE folder and the checkpoint's own VAE needs upcasting, else its own."""
        if job.vae:
            return self._vae(job.vae)
        own = base.default_vae
        if self.dtype == torch.float16 and getattr(own.config, "force_upcast", False):
            fix = next((v for v in self.registry.vaes() if FP16_FIX_VAE.search(v.name)), None)
            if fix is not None:
                return self._vae(fix.name)
        return own, None

    def _vae(self, name: str) -> tuple[object, ModelInfo]:
        """The VAE ``name`` loaded once and kept (VAEs are small)."""
        info = self.registry.get(name, "VAE")
        key = "vae:" + str(info.path.resolve())
        if key not in self._vaes:
            vae = load_vae(info, self.dtype)
            if FP16_FIX_VAE.search(info.name):
                vae.register_to_config(force_upcast=False)  # made to run in fp16
            fp = f"{weights_fingerprint(vae)}|{next(vae.parameters()).dtype}"
            if fp in self._shared:
                vae = self._shared[fp]
            else:
                self._shared[fp] = vae
                apply_on_load("vae", vae, self.speed)
            self.placer.track(vae, key, f"VAE {info.name}")
            self._vaes[key] = (vae, info)
        return self._vaes[key]


__all__ = ["JobBundle", "JobModels", "LoadedModel", "ModelManager", "ModelLoadError",
           "ModelNotFound"]
