"""What a file in ``ControlNet/`` or ``ipadapter/`` is, from its tensor names and shapes or its
``config.json`` alone (nothing loaded): plain ControlNet, ControlNet Union or IP-Adapter, and
why one cannot be used (SD 1.5, another layout). Imports nothing of ``webui``: the registry
and the loader (``webui.models.control``) both use it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

CONTROLNET = "controlnet"
CONTROLNET_UNION = "controlnet-union"
IP_ADAPTER = "ip-adapter"
CONTROL_KINDS = (CONTROLNET, CONTROLNET_UNION, IP_ADAPTER)
CONTROL_FOLDERS = ("ControlNet", "ipadapter")
NOT_SDXL = "not SDXL"

_SD15 = ("made for SD 1.5/2.x (no SDXL text-time embedding); this app runs SDXL only: "
         "use an SDXL ControlNet")
_LDM = ("an original-layout (ldm) ControlNet file; only the diffusers layout is read: use "
        "the diffusers version of this model (a folder with config.json, or its "
        "diffusion_pytorch_model.safetensors)")


def classify_control_keys(shapes: dict[str, list[int]]) -> tuple[str, str]:
    """(kind, problem) of a ControlNet or IP-Adapter from its tensor names and shapes.

    A kind with a problem is listed in the Models tab with the reason and refused when used.
    """
    keys = shapes.keys()
    if any(k.startswith("image_proj.") for k in keys) and any(
            k.startswith("ip_adapter.") for k in keys):
        dims = [s[-1] for k, s in shapes.items()
                if k.startswith("ip_adapter.") and k.endswith("to_k_ip.weight")]
        if dims and dims[0] in (768, 1024):
            return IP_ADAPTER, (f"an IP-Adapter made for SD 1.5/2.x (cross-attention width "
                                f"{dims[0]}); this app runs SDXL only (width 2048)")
        return IP_ADAPTER, ""
    if "controlnet_cond_embedding.conv_in.weight" in keys:
        union = any(k.startswith(("task_embedding", "control_type_proj", "transformer_layes"))
                    for k in keys)
        kind = CONTROLNET_UNION if union else CONTROLNET
        if not any(k.startswith("add_embedding.") for k in keys):
            return kind, _SD15
        return kind, ""
    if any(k.startswith(("control_model.", "input_hint_block.", "zero_convs.")) for k in keys):
        sdxl = any(k.startswith(("control_model.label_emb", "label_emb")) for k in keys)
        return CONTROLNET, _LDM if sdxl else _SD15
    return NOT_SDXL, "neither a ControlNet nor an IP-Adapter (unrecognised tensors)"


def classify_control_folder(folder: Path) -> tuple[str, str]:
    """(kind, problem) of a diffusers ControlNet folder from its ``config.json``."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        return NOT_SDXL, f"unreadable config.json: {exc}"
    cls = cfg.get("_class_name", "")
    if cls not in ("ControlNetModel", "ControlNetUnionModel"):
        return NOT_SDXL, f"a {cls or 'model'} folder, not an SDXL ControlNet"
    kind = CONTROLNET_UNION if cls == "ControlNetUnionModel" else CONTROLNET
    if cfg.get("addition_embed_type") != "text_time":
        return kind, _SD15
    return kind, ""


def classify_control_header(header: dict) -> tuple[str, str]:
    """(kind, problem) of a ``.safetensors`` from its JSON header."""
    shapes = {k: v["shape"] for k, v in header.items()
              if k != "__metadata__" and isinstance(v, dict)}
    return classify_control_keys(shapes)


def classify_control_bin(path: Path) -> tuple[str, str]:
    """(kind, problem) of an IP-Adapter ``.bin`` (read with ``weights_only``: no code runs)."""
    try:
        sd = torch_load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        return NOT_SDXL, f"unreadable: {str(exc).splitlines()[0][:200]}"
    return classify_control_keys({k: list(v.shape) for k, v in flatten(sd).items()
                                  if hasattr(v, "shape")})


def torch_load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def flatten(sd: dict) -> dict:
    """``{"image_proj": {...}, "ip_adapter": {...}}`` -> ``{"image_proj.x": t, ...}``."""
    out = {}
    for k, v in sd.items():
        if isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


def nest(sd: dict) -> dict:
    """Flat ``image_proj.*``/``ip_adapter.*`` keys -> the two dicts diffusers loads."""
    out: dict[str, dict] = {"image_proj": {}, "ip_adapter": {}}
    for k, v in sd.items():
        head, _, rest = k.partition(".")
        if head in out:
            out[head][rest] = v
    return out
