"""Borrowing a module for training and giving it back exactly as it was.

The trainer trains on the modules the model manager already holds (no second copy of the
base in memory), and the same modules then serve generation. ``ModuleGuard`` records what
training changes (train/eval flags, ``requires_grad``, the LoRA adapters the app loaded and
which of them are active, gradient checkpointing, dtype, device) and ``restore`` puts every
one of them back after the training adapter is removed.
"""

from __future__ import annotations

import warnings

import torch


def tuner_layers(module: torch.nn.Module):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def _first_param(module: torch.nn.Module) -> torch.Tensor | None:
    return next(module.parameters(), None)


class ModuleGuard:
    """What training may change in ``module``, recorded now, put back by ``restore``."""

    _MISSING = object()

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.training = {name for name, m in module.named_modules() if m.training}
        self.requires_grad = {n: p.requires_grad for n, p in module.named_parameters()}
        p = _first_param(module)
        self.device = p.device if p is not None else None
        self.dtype = p.dtype if p is not None else None
        config = getattr(module, "peft_config", self._MISSING)
        self.peft_config = config
        self.peft_keys = set(config) if isinstance(config, dict) else set()
        self.hf_loaded = getattr(module, "_hf_peft_config_loaded", self._MISSING)
        self.layers = {id(m): (m._active_adapter, m._disable_adapters)
                       for m in tuner_layers(module)}
        self.checkpointing = checkpointing(module)

    @property
    def had_adapters(self) -> bool:
        return bool(self.layers)

    def restore(self, adapter: str) -> None:
        """Remove adapter ``adapter`` and put back everything recorded."""
        module = self.module
        with warnings.catch_warnings():
            # peft says which adapter it makes active instead; the record decides that below
            warnings.filterwarnings("ignore", message=r"Adapter .* was active which is now")
            for layer in tuner_layers(module):
                if adapter in _adapter_names(layer):
                    layer.delete_adapter(adapter)
        self._unwrap_new_layers()
        for layer in tuner_layers(module):
            active, disabled = self.layers.get(id(layer), (layer._active_adapter, True))
            layer._active_adapter = active
            layer._disable_adapters = disabled
        if self.peft_config is self._MISSING:
            if "peft_config" in vars(module):
                del module.peft_config
        else:
            for key in set(self.peft_config) - self.peft_keys:
                self.peft_config.pop(key, None)
            module.peft_config = self.peft_config
        if self.hf_loaded is self._MISSING:
            vars(module).pop("_hf_peft_config_loaded", None)
        else:
            module._hf_peft_config_loaded = self.hf_loaded
        if checkpointing(module) != self.checkpointing:
            set_checkpointing(module, self.checkpointing)
        for name, m in module.named_modules():
            m.training = name in self.training
        for n, p in module.named_parameters():
            p.requires_grad_(self.requires_grad.get(n, False))
        p = _first_param(module)
        if p is not None and (p.dtype != self.dtype or p.device != self.device):
            module.to(device=self.device, dtype=self.dtype)

    def _unwrap_new_layers(self) -> None:
        """Put the plain layer back wherever peft wrapped one for training only (a layer the
        app's LoRAs had wrapped before keeps its wrapper and their adapters)."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        for parent in list(self.module.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, BaseTunerLayer) and id(child) not in self.layers:
                    setattr(parent, name, child.get_base_layer())

    def changes(self) -> list[str]:
        """What differs from the record now (empty when restored); for tests and logs."""
        module = self.module
        out = []
        if {n for n, m in module.named_modules() if m.training} != self.training:
            out.append("train/eval flags")
        now = {n: p.requires_grad for n, p in module.named_parameters()}
        if now != self.requires_grad:
            out.append("parameters or requires_grad")
        layers = {id(m): (m._active_adapter, m._disable_adapters) for m in tuner_layers(module)}
        if layers != self.layers:
            out.append("adapter layers")
        config = getattr(module, "peft_config", self._MISSING)
        if (config is self._MISSING) != (self.peft_config is self._MISSING) or (
                isinstance(config, dict) and set(config) != self.peft_keys):
            out.append("peft_config")
        p = _first_param(module)
        if p is not None and (p.device, p.dtype) != (self.device, self.dtype):
            out.append("device or dtype")
        if checkpointing(module) != self.checkpointing:
            out.append("gradient checkpointing")
        return out


def _adapter_names(layer) -> set[str]:
    names: set[str] = set()
    for attr in getattr(layer, "adapter_layer_names", ()):
        names |= set(getattr(layer, attr, {}) or {})
    return names


def checkpointing(module: torch.nn.Module) -> bool:
    """Whether gradient checkpointing is on (transformers 5 renamed the flag)."""
    for attr in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(module), attr):
            return bool(getattr(module, attr))
    return False


def set_checkpointing(module: torch.nn.Module, on: bool) -> None:
    """Gradient checkpointing on or off for a diffusers or transformers module."""
    if hasattr(module, "enable_gradient_checkpointing"):  # diffusers
        (module.enable_gradient_checkpointing if on else module.disable_gradient_checkpointing)()
    elif hasattr(module, "activation_checkpointing_enable"):  # transformers 5
        if on:
            module.activation_checkpointing_enable(
                activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            module.activation_checkpointing_disable()
    elif hasattr(module, "gradient_checkpointing_enable"):  # transformers 4 (deprecated in 5)
        if on:
            module.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            module.gradient_checkpointing_disable()
