"""Tiny ControlNet and IP-Adapter models for the tiny SDXL test checkpoints, made in code.

* ``tiny-controlnet`` (diffusers folder) and ``tiny-controlnet-file.safetensors`` (one file
  in the diffusers key layout, its config beside it in ``tiny-controlnet-file.config/``):
  ``ControlNetModel.from_unet`` of tiny-sdxl-a's UNet, with the zero-initialised convolutions
  (hint embedding output, down-block and mid-block outputs) randomised with a fixed seed so
  the control visibly acts. The file has other weights (another seed) than the folder.
* ``tiny-controlnet-union`` (diffusers folder): a ``ControlNetUnionModel`` of the same size.
* ``tiny-ip-adapter.safetensors`` in ``ipadapter/``: an SDXL IP-Adapter state dict
  (``image_proj`` = diffusers' ``ImageProjection``, ``ip_adapter`` = ``to_k_ip``/``to_v_ip``
  for every cross-attention layer of the tiny UNet, numbered as diffusers reads them), and the
  random CLIP image encoder it needs in ``ipadapter/image_encoder/``.
* ``tiny-controlnet-sd15.safetensors``: a ControlNet without SDXL's text-time embedding (an
  SD 1.5 one), which the registry lists with the reason it is refused.

``python -m webui.testing.tiny_controlnet DIR`` writes them (and the tiny checkpoints) there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

CONTROLNET = "tiny-controlnet"
CONTROLNET_FILE = "tiny-controlnet-file"
CONTROLNET_UNION = "tiny-controlnet-union"
IP_ADAPTER = "tiny-ip-adapter"
SD15_CONTROLNET = "tiny-controlnet-sd15"
IMAGE_EMBED_DIM = 16  # the tiny CLIP image encoder's projection size
IP_TOKENS = 4  # image tokens the IP-Adapter adds (as SDXL's plain IP-Adapter)


def _randomise_zero_convs(model, seed: int, scale: float = 0.3) -> None:
    """The zero convolutions of a fresh ControlNet, filled with random values: a trained one
    is not zero there either, and a zero one would change nothing. The hint embedding gets
    He-initialised convolutions without biases (a black map adds nothing, an edge map a
    signal about as strong as the latents'), so the control image, not only the ControlNet's
    own weights, decides what changes."""
    import math

    g = torch.Generator().manual_seed(seed)
    emb = model.controlnet_cond_embedding
    with torch.no_grad():
        for conv in [emb.conv_in, *emb.blocks, emb.conv_out]:
            fan_in = conv.weight[0].numel()
            std = math.sqrt(2 / fan_in) if conv is not emb.conv_out else 0.15 / math.sqrt(fan_in)
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * std)
            conv.bias.zero_()
        # calibrate: a white square on black embeds with a standard deviation of 1
        probe = torch.zeros(1, 3, 64, 64)
        probe[:, :, 16:48, 16:48] = 1
        emb.conv_out.weight.mul_(1.0 / emb(probe).std().clamp_min(1e-6))
    parts = [*model.controlnet_down_blocks, model.controlnet_mid_block]
    if hasattr(model, "spatial_ch_projs"):
        parts.append(model.spatial_ch_projs)
    with torch.no_grad():
        for part in parts:
            for p in part.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def build_controlnet(unet, seed: int = 31):
    from diffusers import ControlNetModel

    model = ControlNetModel.from_unet(unet)
    _randomise_zero_convs(model, seed)
    return model.eval()


def build_union(unet, seed: int = 33):
    """A ``ControlNetUnionModel`` for the tiny UNet (its blocks copied from it, the union's
    transformer sized to the UNet's first block, 6 control types as xinsir's first union)."""
    import inspect

    from diffusers import ControlNetModel, ControlNetUnionModel

    base = ControlNetModel.from_unet(unet)
    accepted = inspect.signature(ControlNetUnionModel.__init__).parameters
    config = {k: v for k, v in base.config.items() if k in accepted}
    width = unet.config.block_out_channels[0]
    config.update(num_trans_channel=width, num_trans_head=4, num_proj_channel=width,
                  num_control_type=6)
    torch.manual_seed(seed)
    union = ControlNetUnionModel(**config)
    union.load_state_dict(base.state_dict(), strict=False)
    _randomise_zero_convs(union, seed)
    with torch.no_grad():  # a trained task embedding is not zero either
        union.task_embedding.copy_(torch.randn(union.task_embedding.shape,
                                               generator=torch.Generator().manual_seed(seed)))
    return union.eval()


def build_sd15_controlnet(seed: int = 35):
    """A tiny ControlNet without ``add_embedding`` (SD 1.5's layout)."""
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    return ControlNetModel(block_out_channels=(32, 64), layers_per_block=1,
                           down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                           cross_attention_dim=32, attention_head_dim=(2, 4),
                           norm_num_groups=32).eval()


def build_image_encoder(seed: int = 37):
    """A random CLIP vision encoder with a projection (transformers 5), 32 px input."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                              num_attention_heads=4, image_size=32, patch_size=8,
                              projection_dim=IMAGE_EMBED_DIM)
    return CLIPVisionModelWithProjection(config).eval()


def build_ip_adapter(unet, seed: int = 39, scale: float = 0.5) -> dict:
    """An IP-Adapter state dict for ``unet`` in the published layout: ``image_proj.*``
    (an ``ImageProjection``: image embedding -> ``IP_TOKENS`` tokens) and ``ip_adapter.N.*``
    (``to_k_ip``/``to_v_ip`` of each cross-attention layer, N = 1, 3, 5, … in the UNet's
    processor order, as diffusers numbers them)."""
    from diffusers.models.embeddings import ImageProjection

    g = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    proj = ImageProjection(cross_attention_dim=cross, image_embed_dim=IMAGE_EMBED_DIM,
                           num_image_text_embeds=IP_TOKENS)
    sd = {}
    with torch.no_grad():
        for name, p in proj.state_dict().items():
            value = torch.randn(p.shape, generator=g) * scale if "embeds" in name else p
            # the published (original) names: image_embeds.* is "proj.*" there
            sd[f"image_proj.{name.replace('image_embeds', 'proj')}"] = value.contiguous()
    key_id = 1
    for name in unet.attn_processors:
        if not name.endswith("attn2.processor"):
            continue
        attn = unet.get_submodule(name.removesuffix(".processor"))
        shape = attn.to_k.weight.shape
        for which in ("to_k_ip", "to_v_ip"):
            sd[f"ip_adapter.{key_id}.{which}.weight"] = torch.randn(shape, generator=g) * scale
        key_id += 2
    return sd


def write_tiny_control_models(models_dir: Path | str) -> list[Path]:
    """Write the tiny ControlNets, IP-Adapter and image encoder under ``models_dir``
    (``ControlNet/``, ``ipadapter/``), for tiny-sdxl-a's UNet (the checkpoints themselves are
    :func:`webui.testing.tiny_models.write_tiny_models`'). Returns the paths written."""
    from safetensors.torch import save_file

    from webui.testing.tiny_models import build_pipeline

    root = Path(models_dir)
    cn_dir, ip_dir = root / "ControlNet", root / "ipadapter"
    cn_dir.mkdir(parents=True, exist_ok=True)
    ip_dir.mkdir(parents=True, exist_ok=True)
    unet = build_pipeline("base", 1).unet
    written = []

    folder = cn_dir / CONTROLNET
    build_controlnet(unet, seed=31).save_pretrained(folder, safe_serialization=True)
    written.append(folder)

    single = build_controlnet(unet, seed=32)
    target = cn_dir / f"{CONTROLNET_FILE}.safetensors"
    save_file({k: v.contiguous() for k, v in single.state_dict().items()}, target)
    config_dir = target.with_suffix(".config")
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(
        {"_class_name": "ControlNetModel", **dict(single.config)}, default=list, indent=2))
    written.append(target)

    union = cn_dir / CONTROLNET_UNION
    build_union(unet).save_pretrained(union, safe_serialization=True)
    written.append(union)

    sd15 = cn_dir / f"{SD15_CONTROLNET}.safetensors"
    save_file({k: v.contiguous() for k, v in build_sd15_controlnet().state_dict().items()},
              sd15)
    written.append(sd15)

    ip = ip_dir / f"{IP_ADAPTER}.safetensors"
    save_file(build_ip_adapter(unet), ip)
    written.append(ip)
    encoder = ip_dir / "image_encoder"
    build_image_encoder().save_pretrained(encoder)
    written.append(encoder)
    return written


def main(argv: list[str] | None = None) -> None:
    from webui.testing.tiny_models import write_tiny_models

    target = Path((argv or sys.argv[1:])[0])
    for path in write_tiny_models(target) + write_tiny_control_models(target):
        print(path)


if __name__ == "__main__":
    main()
