"""ControlNet and IP-Adapter models: what they are (read from their tensors or configs) and
how they load.

Folders (A1111 / sd-webui-controlnet layout under the models folder):

* ``ControlNet/``: SDXL ControlNets as diffusers folders (``config.json`` +
  ``diffusion_pytorch_model.safetensors``) or single ``.safetensors`` files in the diffusers
  key layout (how most SDXL ControlNets are published, e.g. xinsir's union "promax").
  A single file of another size than full SDXL needs its ``config.json`` beside it as
  ``<stem>.config/config.json`` (as single-file checkpoints do).
* ``ipadapter/``: SDXL IP-Adapters, ``.safetensors`` (keys ``image_proj.*``/``ip_adapter.*``)
  or ``.bin`` (a dict ``{"image_proj": …, "ip_adapter": …}``, read with
  ``torch.load(weights_only=True)``, which runs no code).
* The CLIP image encoder IP-Adapters need: ``ipadapter/image_encoder/`` (a transformers
  ``CLIPVisionModelWithProjection`` folder: ``config.json`` + ``model.safetensors``), else the
  first such folder in ``clip_vision/``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import torch

# the kinds are re-exported: the manager and the engine name them through this module
from webui.models.control_kinds import (CONTROL_KINDS, CONTROLNET,  # noqa: F401
                                        CONTROLNET_UNION, IP_ADAPTER, nest, torch_load)
from webui.models.loader import ModelLoadError
from webui.models.registry import ModelInfo

log = logging.getLogger(__name__)


class ControlLoadError(ModelLoadError):
    """A ControlNet / IP-Adapter / image encoder that cannot load; the message says why."""


# -- loading -----------------------------------------------------------------------------------
def load_control_model(info: ModelInfo, dtype: torch.dtype):
    """A ControlNet (``ControlNetModel``/``ControlNetUnionModel``, eval, on the CPU) or an
    IP-Adapter state dict (``{"image_proj": …, "ip_adapter": …}``) from ``info``."""
    if info.problem:
        raise ControlLoadError(f"{info.name}: {info.problem}")
    try:
        if info.kind == IP_ADAPTER:
            if info.path.suffix.lower() == ".bin":
                sd = torch_load(info.path)
                sd = {k: {kk: vv.clone() for kk, vv in v.items()} for k, v in sd.items()}
            else:
                from safetensors.torch import load_file

                sd = nest(load_file(str(info.path)))
            return sd
        from diffusers import ControlNetModel, ControlNetUnionModel

        model_class = ControlNetUnionModel if info.kind == CONTROLNET_UNION else ControlNetModel
        if info.format == "diffusers":
            model = model_class.from_pretrained(str(info.path), dtype=dtype,
                                                local_files_only=True)
        else:
            model = _load_single_controlnet(model_class, info.path, dtype)
        return model.eval().requires_grad_(False)
    except ControlLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a model file can fail in many ways; say which
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ControlLoadError(f"{info.name} could not be loaded: {first}") from exc


def _load_single_controlnet(cls, path: Path, dtype: torch.dtype):
    from accelerate import init_empty_weights
    from safetensors.torch import load_file

    sd = load_file(str(path))
    beside = path.with_suffix(".config") / "config.json"
    if beside.is_file():
        config = json.loads(beside.read_text())
    else:
        config = _sdxl_config_from_tensors(cls, {k: list(v.shape) for k, v in sd.items()})
        if config is None:
            raise ControlLoadError(
                f"{path.name}: not the size of a full SDXL ControlNet, so its layout cannot "
                f"be inferred; put its diffusers config.json at "
                f"{path.with_suffix('.config').name}/config.json")
    with init_empty_weights():
        model = cls.from_config(config)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in sd.items()}
    if want != have:
        missing = sorted(set(want) - set(have))[:3]
        extra = sorted(set(have) - set(want))[:3]
        bad = [k for k in set(want) & set(have) if want[k] != have[k]][:3]
        raise ControlLoadError(f"{path.name}: its tensors do not match the "
                               f"{cls.__name__} layout (missing {missing}, unexpected "
                               f"{extra}, other shape {bad})")
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, assign=True)
    return model


def _sdxl_config_from_tensors(cls, shapes: dict) -> dict | None:
    """A full-size SDXL ControlNet config, adjusted to the file's tensors (union layers,
    conditioning embedding, transformer depth); None when the file is not SDXL-sized."""
    from webui.models.configs import __file__ as configs_init

    conv_in = shapes.get("conv_in.weight")
    k = shapes.get("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight")
    if conv_in is None or conv_in[0] != 320 or k is None or k[1] != 2048:
        return None
    unet = json.loads((Path(configs_init).parent / "sdxl-base-1.0" / "unet" /
                       "config.json").read_text())
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in unet.items() if k in accepted}
    levels = sorted({int(m[1]) for key in shapes
                     if (m := re.match(r"down_blocks\.(\d+)\.", key))})
    config["transformer_layers_per_block"] = [
        len({m[1] for key in shapes if (m := re.match(
            rf"down_blocks\.{i}\.attentions\.0\.transformer_blocks\.(\d+)\.", key))})
        for i in levels]
    emb = [shapes["controlnet_cond_embedding.conv_in.weight"][0]]
    j = 1
    while f"controlnet_cond_embedding.blocks.{j}.weight" in shapes:
        emb.append(shapes[f"controlnet_cond_embedding.blocks.{j}.weight"][0])
        j += 2
    config["conditioning_embedding_out_channels"] = emb
    if "task_embedding" in shapes:
        config["num_control_type"], config["num_trans_channel"] = shapes["task_embedding"]
        config["num_proj_channel"] = shapes["spatial_ch_projs.weight"][0]
        config["num_trans_layer"] = len({m[1] for key in shapes if (m := re.match(
            r"transformer_layes\.(\d+)\.", key))})
    return config


def find_image_encoder(ipadapter_dir: Path, clip_vision_dir: Path) -> Path | None:
    """The CLIP image encoder folder: ``ipadapter/image_encoder/``, else the first
    ``clip_vision/<name>/`` holding a ``CLIPVisionModelWithProjection`` config."""
    candidates = [ipadapter_dir / "image_encoder"]
    if clip_vision_dir.is_dir():
        candidates += sorted(p for p in clip_vision_dir.iterdir() if p.is_dir())
    for folder in candidates:
        try:
            cfg = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if "CLIPVision" in " ".join(cfg.get("architectures") or []) or \
                cfg.get("model_type") == "clip_vision_model":
            return folder
    return None


def load_image_encoder(folder: Path, dtype: torch.dtype):
    from transformers import CLIPVisionModelWithProjection

    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(folder), dtype=dtype,
                                                              local_files_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ControlLoadError(f"the CLIP image encoder in {folder} could not be loaded: "
                               f"{str(exc).splitlines()[0][:300]}") from exc
    return model.eval().requires_grad_(False)


# -- what the manager lists and holds ------------------------------------------------------------
class ControlModel:
    """A usable ControlNet / IP-Adapter as the UI and the API list it: ``title`` is
    sd-webui-controlnet's ``name [hash]`` (the hash: A1111's 10-hex short hash, as for
    checkpoints)."""

    def __init__(self, info: ModelInfo, short_hash: str):
        self.info = info
        self.hash = short_hash

    name = property(lambda self: self.info.name)
    kind = property(lambda self: self.info.kind)
    path = property(lambda self: self.info.path)
    title = property(lambda self: f"{self.info.name} [{self.hash}]")

    def __repr__(self) -> str:
        return f"ControlModel({self.title!r}, {self.kind})"


_TITLE = re.compile(r"(.*?)\s*\[([0-9a-fA-F]{6,64})\]\s*")


def bare_name(name: str) -> str:
    """``"name [hash]"`` -> ``"name"`` (the hash of another install is not held against it)."""
    m = _TITLE.fullmatch(name)
    return (m[1] if m else name).strip()


def matches(info: ModelInfo, name: str) -> bool:
    """``name`` (bare, any case, with or without the file's extension) names ``info``."""
    want = bare_name(name).lower()
    return want in {info.name.lower(), info.path.name.lower(), info.path.stem.lower(),
                    Path(info.name).stem.lower()}


def attach_ip_adapters(unet, state_dicts: list[dict], dtype: torch.dtype):
    """Load IP-Adapters into ``unet``'s attention processors (diffusers' own loader) for one
    job; return the call that puts the UNet back exactly as it was (its processors, no image
    projection). Call both while the UNet is off the device (``DevicePlacer.off_device``)."""
    procs = dict(unet.attn_processors)
    hid_proj = unet.encoder_hid_proj
    hid_type = unet.config.encoder_hid_dim_type
    sds = [{part: {k: v.to(dtype) for k, v in sd[part].items()} for part in
            ("image_proj", "ip_adapter")} for sd in state_dicts]
    try:
        unet._load_ip_adapter_weights(sds, low_cpu_mem_usage=False)
    except Exception as exc:
        _restore(unet, procs, hid_proj, hid_type)
        raise ControlLoadError(f"the IP-Adapter does not fit this checkpoint's UNet: "
                               f"{str(exc).splitlines()[0][:300]}") from exc
    for part in [unet.encoder_hid_proj, *unet.attn_processors.values()]:
        if isinstance(part, torch.nn.Module):
            part.to(dtype)

    def restore():
        _restore(unet, procs, hid_proj, hid_type)

    return restore


def _restore(unet, procs, hid_proj, hid_type) -> None:
    unet.set_attn_processor(procs)
    unet.encoder_hid_proj = hid_proj
    unet.config.encoder_hid_dim_type = hid_type


def ip_cross_dim(state_dict: dict) -> int | None:
    """The cross-attention width an IP-Adapter was made for."""
    for k, v in state_dict["ip_adapter"].items():
        if k.endswith("to_k_ip.weight"):
            return int(v.shape[-1])
    return None
