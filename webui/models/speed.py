"""GPU speed options applied to a checkpoint's modules once, when it is loaded.

* ``channels_last`` memory format for the UNet and VAE (faster convolutions on NVIDIA GPUs).
* PyTorch's fused scaled-dot-product attention (diffusers' ``AttnProcessor2_0``) everywhere.
* ``fuse_qkv``: one matmul for query, key and value in every self-attention (diffusers'
  fused projections; the original weights stay so LoRA jobs can switch back).
* ``compile``: ``torch.compile`` of the UNet, in place, so the module
  objects the cache and the placement track stay the same; LoRAs then change by hotswapping
  weights into fixed adapter slots, which does not recompile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeedOptions:
    channels_last: bool = False
    compile: bool = False
    fuse_qkv: bool = False
    lora_rank: int = 128  # largest LoRA rank hotswapped into a compiled UNet
    compile_backend: str = "inductor"  # tests use "aot_eager": same graphs, no codegen

    @classmethod
    def for_device(cls, device: torch.device, compile: bool | str = False,
                   fuse_qkv: bool = False, channels_last: bool | None = None) -> SpeedOptions:
        """channels_last defaults on for CUDA, off elsewhere (no gain on the CPU).
        ``compile``: True, or the name of a torch.compile backend."""
        if channels_last is None:
            channels_last = device.type == "cuda"
        backend = compile if isinstance(compile, str) else "inductor"
        return cls(channels_last=channels_last, compile=bool(compile), fuse_qkv=fuse_qkv,
                   compile_backend=backend)


def use_sdpa(module: torch.nn.Module) -> None:
    """Use PyTorch SDPA attention (diffusers' default with torch 2; set explicitly so a
    checkpoint loaded with another processor still gets it)."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    if hasattr(module, "set_attn_processor") and hasattr(module, "attn_processors"):
        module.set_attn_processor(AttnProcessor2_0())


def apply_on_load(name: str, module: torch.nn.Module, options: SpeedOptions) -> None:
    """Apply ``options`` to a freshly loaded module (``name``: its pipeline attribute), on
    the CPU before any placement. A module shared with a cached checkpoint was done before
    and must not be done twice."""
    if name not in ("unet", "vae"):
        return
    use_sdpa(module)
    if options.channels_last:
        module.to(memory_format=torch.channels_last)
    if options.fuse_qkv and hasattr(module, "fuse_qkv_projections"):
        module.fuse_qkv_projections()
        module._webui_fused = True
    if options.compile and name == "unet":
        # hotswap must be prepared before the first adapter is injected. The VAE decoder is
        # left eager: it runs once per image, and its traced group norms failed on the CPU
        module.enable_lora_hotswap(target_rank=options.lora_rank, check_compiled="ignore")
        module.compile(backend=options.compile_backend)
        log.info("torch.compile set on the UNet (compiles on first use)")


def set_fused(unet: torch.nn.Module, fused: bool) -> None:
    """Switch a UNet whose QKV projections were fused between the fused and the plain
    attention processors (LoRA layers sit on the plain projections)."""
    from diffusers.models.attention_processor import AttnProcessor2_0, FusedAttnProcessor2_0

    if getattr(unet, "_webui_fused", None) is None:
        return
    if unet._webui_fused != fused:
        unet.set_attn_processor(FusedAttnProcessor2_0() if fused else AttnProcessor2_0())
        unet._webui_fused = fused
