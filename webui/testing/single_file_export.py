"""Write a diffusers SDXL pipeline back to ONE ``.safetensors`` in Stability's layout.

This is the inverse of what diffusers' ``from_single_file`` converts: the file
uses the key names of the original ``sgm`` checkpoints
(``sd_xl_base_1.0.safetensors`` / ``sd_xl_refiner_1.0.safetensors``), so other
tools (and diffusers itself, with ``config=`` pointing at a config folder) can
load it::

    model.diffusion_model.*                          UNet (openaimodel layout)
    first_stage_model.*                              VAE (ldm autoencoder layout)
    conditioner.embedders.0.transformer.text_model.* CLIP ViT-L/14 (base only)
    conditioner.embedders.1.model.*                  OpenCLIP ViT-bigG/14 (base)
    conditioner.embedders.0.model.*                  OpenCLIP ViT-bigG/14 (refiner,
                                                     i.e. a pipeline without text_encoder)

The OpenCLIP part uses OpenCLIP naming: merged ``attn.in_proj_weight`` /
``in_proj_bias`` (q, k, v stacked), ``ln_1``/``ln_2``, ``mlp.c_fc``/``mlp.c_proj``,
``positional_embedding``, ``ln_final`` and ``text_projection`` stored as
``[width, embed_dim]`` (the transpose of the diffusers ``Linear`` weight).

The key mapping is derived from the models' configs, so it is not tied to the
exact SDXL sizes (a tiny pipeline with the same architecture works as well).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "convert_unet_to_original",
    "convert_vae_to_original",
    "convert_clip_to_original",
    "convert_open_clip_to_original",
    "sdxl_pipeline_to_original_state_dict",
    "save_sdxl_single_file",
]

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
OPEN_CLIP_BASE_PREFIX = "conditioner.embedders.1.model."
OPEN_CLIP_REFINER_PREFIX = "conditioner.embedders.0.model."

_UNET_TOP_LEVEL = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}

_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _cfg(config: Any, name: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def _resnet_key(rest: str) -> str:
    head, _, tail = rest.partition(".")
    if head not in _UNET_RESNET:
        raise KeyError(rest)
    return f"{_UNET_RESNET[head]}.{tail}"


def convert_unet_to_original(state_dict: Mapping[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """Map a diffusers ``UNet2DConditionModel`` state dict to sgm ``openaimodel`` keys (no prefix).

    ``config`` is the UNet's config (``unet.config`` or a dict); only
    ``layers_per_block`` and ``up_block_types`` are used.
    """
    lpb = _cfg(config, "layers_per_block")
    if not isinstance(lpb, int):
        raise ValueError(f"only an int layers_per_block is supported, got {lpb!r}")
    up_types = list(_cfg(config, "up_block_types"))
    up_has_attention = ["CrossAttn" in t for t in up_types]

    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = None
        for src, dst in _UNET_TOP_LEVEL.items():
            if key.startswith(src):
                new = dst + key[len(src) :]
                break
        if new is None:
            try:
                new = _unet_block_key(key, lpb, up_has_attention)
            except KeyError:
                raise KeyError(f"no original-layout name for UNet key {key!r}") from None
        if new in out:
            raise KeyError(f"two UNet keys map to {new!r}")
        out[new] = value
    return out


def _unet_block_key(key: str, lpb: int, up_has_attention: list[bool]) -> str:
    m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = 1 + i * (lpb + 1) + j
        return f"input_blocks.{idx}.0.{_resnet_key(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$", key)
    if m:
        return f"input_blocks.{(int(m[1]) + 1) * (lpb + 1)}.0.op.{m[2]}"
    m = re.match(r"mid_block\.resnets\.(\d+)\.(.+)$", key)
    if m:
        return f"middle_block.{2 * int(m[1])}.{_resnet_key(m[2])}"
    m = re.match(r"mid_block\.attentions\.0\.(.+)$", key)
    if m:
        return f"middle_block.1.{m[1]}"
    m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$", key)
    if m:
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = i * (lpb + 1) + j
        return f"output_blocks.{idx}.0.{_resnet_key(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$", key)
    if m:
        i = int(m[1])
        slot = 2 if up_has_attention[i] else 1
        return f"output_blocks.{i * (lpb + 1) + lpb}.{slot}.conv.{m[2]}"
    raise KeyError(key)


def convert_vae_to_original(state_dict: Mapping[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """Map a diffusers ``AutoencoderKL`` state dict to ldm autoencoder keys (no prefix).

    The mid-block attention projections become 1x1 convolutions again
    (``[C, C]`` -> ``[C, C, 1, 1]``), as in the original checkpoints.
    """
    n_up = len(_cfg(config, "up_block_types"))
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = _vae_key(key, n_up)
        if new is None:
            raise KeyError(f"no original-layout name for VAE key {key!r}")
        if ".mid.attn_1." in new and new.endswith(".weight") and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)
        if new in out:
            raise KeyError(f"two VAE keys map to {new!r}")
        out[new] = value
    return out


def _vae_key(key: str, n_up: int) -> str | None:
    for same in ("encoder.conv_in.", "encoder.conv_out.", "decoder.conv_in.", "decoder.conv_out.", "quant_conv.", "post_quant_conv."):
        if key.startswith(same):
            return key
    m = re.match(r"(encoder|decoder)\.conv_norm_out\.(.+)$", key)
    if m:
        return f"{m[1]}.norm_out.{m[2]}"
    m = re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key)
    if m:
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$", key)
    if m:
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    m = re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key)
    if m:
        return f"decoder.up.{n_up - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$", key)
    if m:
        return f"decoder.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}"
    m = re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)$", key)
    if m:
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    m = re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)$", key)
    if m and m[2] in _VAE_ATTENTION:
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
    return None


def _strip_text_model(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # transformers >= 5.6 flattened CLIPTextModel (no ``text_model.`` level);
    # older versions and CLIPTextModelWithProjection keep it.
    return {k.removeprefix("text_model."): v for k, v in state_dict.items()}


def convert_clip_to_original(state_dict: Mapping[str, torch.Tensor], max_position_embeddings: int) -> dict[str, torch.Tensor]:
    """Map a transformers ``CLIPTextModel`` state dict to the HF-CLIP keys SDXL stores (no prefix).

    SDXL keeps the transformers naming under ``text_model.``; the
    ``embeddings.position_ids`` buffer (``int64 [1, max_positions]``) is added
    back, as the original checkpoints carry it and some tools expect it.
    """
    sd = _strip_text_model(state_dict)
    out = {f"text_model.{k}": v for k, v in sd.items() if k != "text_projection.weight"}
    out.setdefault(
        "text_model.embeddings.position_ids",
        torch.arange(max_position_embeddings, dtype=torch.int64).unsqueeze(0),
    )
    return out


_OPEN_CLIP_LAYER = {
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
    "self_attn.out_proj.": "attn.out_proj.",
}


def convert_open_clip_to_original(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a transformers ``CLIPTextModelWithProjection`` state dict to OpenCLIP keys (no prefix)."""
    sd = _strip_text_model(state_dict)
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if key == "embeddings.token_embedding.weight":
            out["token_embedding.weight"] = value
        elif key == "embeddings.position_embedding.weight":
            out["positional_embedding"] = value
        elif key == "embeddings.position_ids":
            continue
        elif key.startswith("final_layer_norm."):
            out["ln_final." + key[len("final_layer_norm.") :]] = value
        elif key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        else:
            m = re.match(r"encoder\.layers\.(\d+)\.(.+)$", key)
            if not m:
                raise KeyError(f"no original-layout name for OpenCLIP key {key!r}")
            layer, rest = int(m[1]), m[2]
            m_qkv = re.match(r"self_attn\.([qkv])_proj\.(weight|bias)$", rest)
            if m_qkv:
                qkv.setdefault((layer, m_qkv[2]), {})[m_qkv[1]] = value
                continue
            for src, dst in _OPEN_CLIP_LAYER.items():
                if rest.startswith(src):
                    out[f"transformer.resblocks.{layer}.{dst}{rest[len(src):]}"] = value
                    break
            else:
                raise KeyError(f"no original-layout name for OpenCLIP key {key!r}")
    for (layer, kind), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            raise KeyError(f"layer {layer}: incomplete q/k/v {kind}")
        out[f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def sdxl_pipeline_to_original_state_dict(pipe: Any, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Build the original-layout state dict of an SDXL pipeline (base or refiner).

    Uses ``pipe.unet``, ``pipe.vae``, ``pipe.text_encoder`` (optional: the
    refiner has none) and ``pipe.text_encoder_2``.  With ``dtype`` given,
    floating-point tensors are cast to it (``position_ids`` stays int64).
    """
    unet = getattr(pipe, "unet", None)
    vae = getattr(pipe, "vae", None)
    te1 = getattr(pipe, "text_encoder", None)
    te2 = getattr(pipe, "text_encoder_2", None)
    if unet is None or vae is None or te2 is None:
        raise ValueError("the pipeline needs unet, vae and text_encoder_2 to be exported")

    result: dict[str, torch.Tensor] = {}

    def add(prefix: str, sd: Mapping[str, torch.Tensor]) -> None:
        for k, v in sd.items():
            result[prefix + k] = v

    add(UNET_PREFIX, convert_unet_to_original(unet.state_dict(), unet.config))
    add(VAE_PREFIX, convert_vae_to_original(vae.state_dict(), vae.config))
    if te1 is not None:
        add(CLIP_L_PREFIX, convert_clip_to_original(te1.state_dict(), te1.config.max_position_embeddings))
        add(OPEN_CLIP_BASE_PREFIX, convert_open_clip_to_original(te2.state_dict()))
    else:
        add(OPEN_CLIP_REFINER_PREFIX, convert_open_clip_to_original(te2.state_dict()))

    for k, v in list(result.items()):
        v = v.detach()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        result[k] = v.to("cpu").contiguous()
    return result


def save_sdxl_single_file(
    pipe: Any,
    path: str | os.PathLike[str],
    *,
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, torch.Tensor]:
    """Write ``pipe``'s unet, vae and text encoders to one ``.safetensors`` in Stability's layout.

    Args:
        pipe: a diffusers ``StableDiffusionXLPipeline`` (base layout) or a
            pipeline without ``text_encoder`` such as the refiner's
            ``StableDiffusionXLImg2ImgPipeline`` (refiner layout).
        path: output file (``.safetensors``); parent folders are created.
        dtype: optional floating-point dtype to store (e.g. ``torch.float16``).
        metadata: optional string metadata for the safetensors header.

    Returns:
        The state dict that was written.

    The result loads back with e.g.
    ``StableDiffusionXLPipeline.from_single_file(path, config=<diffusers config folder>, local_files_only=True)``.
    """
    from safetensors.torch import save_file

    state_dict = sdxl_pipeline_to_original_state_dict(pipe, dtype=dtype)
    # safetensors refuses tensors that share storage; the converted dict may
    # hold views (e.g. tied weights), so give every tensor its own storage.
    seen: set[int] = set()
    for k, v in state_dict.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else None
        if ptr is not None and ptr in seen:
            state_dict[k] = v.clone()
        elif ptr is not None:
            seen.add(ptr)
    meta = {"format": "pt"}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    save_file(state_dict, os.fspath(path), metadata=meta)
    return state_dict

