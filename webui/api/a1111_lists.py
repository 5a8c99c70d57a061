"""AUTOMATIC1111's ``/sdapi/v1`` listing endpoints: models, LoRAs, VAEs, samplers, schedulers,
upscalers, styles, and the server's memory and flags. An empty list is the answer where this
app has no such thing (face restorers, embeddings, hypernetworks)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from webui.api import a1111_models as m
from webui.api.a1111_adapter import SAMPLER_ALIASES, SCHEDULERS
from webui.api.catalog import (checkpoint_title, checkpoints, known_hash, known_sha256,
                               lora_files, vae_files)
from webui.choices import SAMPLERS
from webui.extensions.script_ui import arg_infos

log = logging.getLogger(__name__)

UPSCALERS = ["None", "Lanczos", "Nearest"]
LATENT_UPSCALE_MODES = ["Latent", "Latent (antialiased)", "Latent (bicubic)",
                        "Latent (bicubic antialiased)", "Latent (nearest)",
                        "Latent (nearest-exact)"]
_SECRET_WORDS = ("auth", "password", "passwd", "secret", "token", "key", "credential")


def _styles(ctx) -> list[dict]:
    """Prompt styles of the app's styles file (``<data-dir>/styles.csv``)."""
    return [{"name": st.name, "prompt": st.prompt, "negative_prompt": st.negative_prompt}
            for st in ctx.styles.styles().values()]


def redact(name: str, value: Any) -> Any:
    """A flag's value as ``cmd-flags`` shows it: paths as text, credentials never."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)) and any(isinstance(v, Path) for v in value):
        return [str(v) for v in value]  # --extensions-dir folders
    if value and any(word in name.lower() for word in _SECRET_WORDS):
        return "***"
    if name == "db" and value:
        from sqlalchemy.engine import make_url

        try:
            return make_url(value).render_as_string(hide_password=True)
        except Exception:  # not a URL we can parse: show nothing of it
            return "***"
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


def cmd_flags(settings) -> dict[str, Any]:
    """The app's flags, A1111-style (``ckpt_dir``, ``lora_dir``... included), secrets hidden."""
    flags = {f.name: redact(f.name, getattr(settings, f.name))
             for f in dataclasses.fields(settings)}
    models = Path(settings.models_dir)
    flags.update(ckpt_dir=str(models / "Stable-diffusion"), lora_dir=str(models / "Lora"),
                 vae_dir=str(models / "VAE"), api=settings.api_enabled,
                 api_auth=None, gradio_auth=None)
    return flags


def memory() -> dict:
    """RAM of the machine, and CUDA memory when a CUDA device is present."""
    import psutil
    import torch

    vm = psutil.virtual_memory()
    ram = {"free": vm.available, "used": vm.total - vm.available, "total": vm.total}
    if not torch.cuda.is_available():
        return {"ram": ram, "cuda": {"error": "no CUDA device"}}
    free, total = torch.cuda.mem_get_info()
    stats = torch.cuda.memory_stats()
    cuda = {"system": {"free": free, "used": total - free, "total": total},
            "active": {"current": stats.get("active_bytes.all.current", 0),
                       "peak": stats.get("active_bytes.all.peak", 0)},
            "allocated": {"current": stats.get("allocated_bytes.all.current", 0),
                          "peak": stats.get("allocated_bytes.all.peak", 0)},
            "reserved": {"current": stats.get("reserved_bytes.all.current", 0),
                         "peak": stats.get("reserved_bytes.all.peak", 0)},
            "inactive": {"current": stats.get("inactive_split_bytes.all.current", 0),
                         "peak": stats.get("inactive_split_bytes.all.peak", 0)},
            "events": {"retries": stats.get("num_alloc_retries", 0),
                       "oom": stats.get("num_ooms", 0)}}
    return {"ram": ram, "cuda": cuda}


#: the name sd-webui-controlnet's always-on script has in A1111's script lists
CONTROLNET_SCRIPT = "controlnet"


def script_infos(host) -> list[dict]:
    """A1111's ``/script-info``: each script once per tab family it runs in, and the built-in
    ControlNet as sd-webui-controlnet's always-on script (its units' fields are objects,
    described at ``/controlnet/*``, so it lists no positional arguments)."""
    out = [{"name": CONTROLNET_SCRIPT, "is_alwayson": True, "is_img2img": img2img, "args": []}
           for img2img in (False, True)]
    for is_img2img, modes in ((False, ("txt2img",)), (True, ("img2img", "inpaint"))):
        seen = set()
        for mode in modes:
            for s in host.scripts(mode):
                if s.title in seen:
                    continue
                seen.add(s.title)
                out.append({"name": s.title.lower(), "is_alwayson": s.alwayson,
                            "is_img2img": is_img2img, "args": arg_infos(s.args)})
    return out


def upscaler_items(ctx) -> list[dict]:
    """``/upscalers``: every upscaler of the app's registry (``webui.upscaling``)."""
    from webui.upscaling.registry import ModelUpscaler

    registry = getattr(ctx, "upscalers", None)
    if registry is None:
        return [{"name": n, "model_name": None, "model_path": None, "model_url": None,
                 "scale": 4} for n in UPSCALERS]
    out = []
    for up in registry.all():
        model = isinstance(up, ModelUpscaler)
        out.append({"name": up.name, "model_name": up.model_name if model else None,
                    "model_path": str(up.path) if model else None, "model_url": None,
                    "scale": up.scale})
    return out


def lists_router(ctx) -> APIRouter:
    """The listing routes of ``/sdapi/v1``."""
    r = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111"])
    models_dir = ctx.settings.models_dir
    manager = ctx.manager

    @r.get("/sd-models", response_model=list[m.SDModelItem])
    def sd_models():
        """Checkpoints in ``<models-dir>/Stable-diffusion``; as in A1111, ``hash`` (10 hex),
        ``sha256`` and the title's ``[hash]`` are filled once the file has been hashed."""
        return [{"title": checkpoint_title(manager, i), "model_name": i.name,
                 "hash": known_hash(manager, i), "sha256": known_sha256(manager, i),
                 "filename": str(i.path), "config": None} for i in checkpoints(manager)]

    @r.post("/refresh-checkpoints")
    def refresh_checkpoints():
        """Re-read the checkpoints folder (every listing reads it anew)."""
        manager.registry.scan()
        return None

    @r.get("/sd-vae", response_model=list[m.SDVaeItem])
    def sd_vae():
        """VAE files in ``<models-dir>/VAE``."""
        return [{"model_name": name, "filename": str(path)}
                for name, path in vae_files(manager, models_dir)]

    @r.post("/refresh-vae")
    def refresh_vae():
        return None

    @r.get("/loras", response_model=list[m.LoraItem])
    def loras():
        """LoRA files in ``<models-dir>/Lora``; use one as ``<lora:name:weight>``."""
        return [{"name": name, "alias": name, "path": str(path), "metadata": {}}
                for name, path in lora_files(manager, models_dir)]

    @r.post("/refresh-loras")
    def refresh_loras():
        return None

    @r.get("/samplers", response_model=list[m.SamplerItem])
    def samplers():
        # A1111 1.9+: plain samplers; the schedule is chosen apart (``/schedulers``), and
        # the combined names ("DPM++ 2M Karras") are still accepted
        extra = list(getattr(ctx.manager, "extra_samplers", None) or ())  # extensions'
        return [{"name": n, "aliases": SAMPLER_ALIASES.get(n, []), "options": {}}
                for n in SAMPLERS + extra]

    @r.get("/schedulers", response_model=list[m.SchedulerItem])
    def schedulers():
        return [{"name": k, "label": v, "aliases": None,
                 "default_rho": 7.0 if k == "karras" else -1.0, "need_inner_model": False}
                for k, v in SCHEDULERS.items()]

    @r.get("/upscalers", response_model=list[m.UpscalerItem])
    def upscalers():
        """None, Lanczos, Nearest, then the ESRGAN-family files of ``<models-dir>/ESRGAN``
        (Real-ESRGAN's by A1111's names, e.g. "R-ESRGAN 4x+"; others by file stem) and
        extensions' upscalers: the names ``upscaler_1``/``hr_upscaler`` take."""
        return upscaler_items(ctx)

    @r.get("/realesrgan-models", response_model=list[m.RealesrganItem])
    def realesrgan_models():
        """The ESRGAN-family model files (``<models-dir>/ESRGAN``) with their scale."""
        return [{"name": up.name, "path": str(up.path), "scale": int(up.scale)}
                for up in ctx.upscalers.models()]

    @r.get("/latent-upscale-modes", response_model=list[m.LatentUpscalerModeItem])
    def latent_upscale_modes():
        return [{"name": n} for n in LATENT_UPSCALE_MODES]

    @r.get("/prompt-styles", response_model=list[m.PromptStyleItem])
    def prompt_styles():
        return _styles(ctx)

    @r.get("/embeddings", response_model=m.EmbeddingsResponse)
    def embeddings():
        return {"loaded": {}, "skipped": {}}

    @r.post("/refresh-embeddings")
    def refresh_embeddings():
        return None

    @r.get("/hypernetworks")
    def hypernetworks() -> list:
        return []

    @r.get("/scripts", response_model=m.ScriptsList)
    def scripts():
        """Selectable scripts' titles, lower case as A1111 lists them, per tab family, and
        "controlnet": A1111 lists its always-on scripts too, and clients look for the
        sd-webui-controlnet extension there (its units are built in here, webui.controlnet)."""
        host = ctx.extensions
        return {family: [s.title.lower() for s in host.scripts(family, alwayson=False)]
                + [CONTROLNET_SCRIPT] for family in ("txt2img", "img2img")}

    @r.get("/script-info")
    def script_info() -> list:
        """Every script with its arguments (label, value, choices...), A1111's shape."""
        return script_infos(ctx.extensions)

    @r.get("/extensions", response_model=list[m.ExtensionItem])
    def extensions():
        """The extensions found, with version, switch and state (error says why)."""
        return [{"name": st.name, "remote": st.path, "version": st.version,
                 "enabled": st.enabled, "state": st.state, "error": st.error}
                for st in ctx.extensions.statuses.values()]

    @r.get("/face-restorers", response_model=list[m.FaceRestorerItem])
    def face_restorers():
        return []

    @r.get("/memory", response_model=m.MemoryResponse)
    def get_memory():
        return memory()

    @r.get("/cmd-flags")
    def get_cmd_flags() -> dict[str, Any]:
        """The server's flags; credentials are never shown."""
        return cmd_flags(ctx.settings)

    return r
