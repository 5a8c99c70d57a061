"""LoRA adapters per module: loaded once into each module that carries them, switched per job.

A LoRA touches the UNet and both text encoders, and text encoders are shared between
checkpoints (base and refiner share ``text_encoder_2``, fine-tunes share both). So adapters
are tracked per module, not per pipeline: a module gets a LoRA's part once, and before each
job every adapter-carrying module the job calls is set to exactly the job's LoRAs (or has its
adapters switched off), so a LoRA never leaks from one checkpoint's job into another's.
"""

from __future__ import annotations

import re

import torch

from webui.models.loader import ModelLoadError

# module attribute on the pipeline -> the key prefix diffusers uses for its LoRA part
LORA_TARGETS = {"unet": "unet", "text_encoder": "text_encoder",
                "text_encoder_2": "text_encoder_2"}


def adapter_name(lora_name: str) -> str:
    return re.sub(r"\W", "_", lora_name)


def loaded_adapters(module: torch.nn.Module) -> set[str]:
    """Names of the adapters already injected into ``module``."""
    return set(getattr(module, "peft_config", None) or {})


def read_lora(pipe_cls, path: str, unet_config) -> tuple[dict, dict | None, dict | None]:
    """The LoRA file as diffusers' state dict (kohya and diffusers key styles)."""
    try:
        sd, alphas, metadata = pipe_cls.lora_state_dict(path, unet_config=unet_config,
                                                        return_lora_metadata=True)
    except Exception as exc:  # noqa: BLE001 - diffusers hides the cause in a generic error
        raise ModelLoadError(f"could not read LoRA {path}: {exc}") from exc
    if not all("lora" in k for k in sd):
        raise ModelLoadError(f"{path} is not a LoRA file (its keys are not LoRA weights)")
    return sd, alphas, metadata


def inject(pipe_cls, target: str, module: torch.nn.Module, lora: tuple, name: str,
           hotswap: bool = False) -> bool:
    """Load ``target``'s part of ``lora`` into ``module`` as adapter ``name``; False when the
    LoRA has no weights for this module."""
    sd, alphas, metadata = lora
    prefix = f"{LORA_TARGETS[target]}."
    if not any(k.startswith(prefix) for k in sd):
        return False
    try:
        if target == "unet":
            pipe_cls.load_lora_into_unet(sd, network_alphas=alphas, unet=module,
                                         adapter_name=name, metadata=metadata,
                                         hotswap=hotswap)
        else:
            pipe_cls.load_lora_into_text_encoder(sd, network_alphas=alphas,
                                                 text_encoder=module, prefix=target,
                                                 adapter_name=name, metadata=metadata)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"could not load LoRA into the {target}: {exc}") from exc
    return True


def activate(module: torch.nn.Module, names: list[str], weights: list[float]) -> None:
    """Make exactly ``names`` (with ``weights``) the active adapters of ``module``; with no
    names its adapter layers are switched off (the output is then the base's own)."""
    from diffusers.utils.peft_utils import set_adapter_layers, set_weights_and_activate_adapters

    if not loaded_adapters(module):
        return
    if names:
        set_adapter_layers(module, enabled=True)
        set_weights_and_activate_adapters(module, names, weights)
    else:
        set_adapter_layers(module, enabled=False)


def set_slot_weights(module: torch.nn.Module, names: list[str], weights: list[float]) -> None:
    """Compiled UNet: keep every slot active and write each slot's weight into its scaling
    tensor in place (hotswap made them tensors), so a weight change is not a recompile."""
    import math

    from peft.tuners.lora import LoraLayer

    for layer in module.modules():
        if not isinstance(layer, LoraLayer):
            continue
        if list(layer.active_adapters) != names:
            layer.set_adapter(names)
        for name, weight in zip(names, weights):
            if name not in layer.scaling:
                continue
            rank = layer.r[name]
            base = layer.lora_alpha[name] / (math.sqrt(rank) if layer.use_rslora.get(name)
                                             else rank)
            current = layer.scaling[name]
            if isinstance(current, torch.Tensor):
                current.fill_(weight * base)
            else:
                layer.set_scale(name, weight)
