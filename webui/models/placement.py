"""Device placement per torch module, not per checkpoint.

SDXL base and refiner share ``text_encoder_2`` and the VAE; fine-tunes of one base share
their text encoders; a VAE override is one module used by many checkpoints. So the unit of
placement is the module: before each job exactly the modules it calls are put on the job's
device, and modules no job needs leave the device only when the device budget requires it,
least recently used first, counted in bytes.

Moving to the device copies the weights there and keeps the RAM tensors (the RAM cache holds
every module's weights anyway); moving off the device points the parameters back at those RAM
tensors, which costs no copy. That also makes the ``meta`` device a faithful stand-in for a
GPU in tests: weights "on the device" lose their values there but come back intact.

Rule: a module's structure or weights change (LoRA adapters loaded, QKV fused) only while it
is off the device, through :meth:`DevicePlacer.off_device`, so the RAM copy is always current.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import torch

log = logging.getLogger(__name__)


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers (each tensor counted once)."""
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def tensors_off(module: torch.nn.Module, device: torch.device) -> list[str]:
    """Names of parameters/buffers of ``module`` that are not on ``device`` (tests, checks)."""
    wrong = []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t.device.type != device.type or (device.index is not None
                                            and t.device.index != device.index):
            wrong.append(name)
    return wrong


@dataclass
class _Slot:
    """One module the cache holds: its RAM tensors while it is on the device."""

    module: torch.nn.Module
    label: str
    nbytes: int
    owners: set[str] = field(default_factory=set)
    host: list | None = None  # [(submodule, kind, attr, RAM tensor)] while on the device
    last_used: int = 0
    pins: int = 0

    @property
    def on_device(self) -> bool:
        return self.host is not None


class DevicePlacer:
    """Puts the modules a job needs on ``device``; evicts others by LRU within ``budget``.

    On the CPU (``device`` cpu) nothing ever moves. ``budget`` is the number of bytes of
    weights that may sit on the device (None: no limit). ``moves`` counts host->device copies
    (tests and the benchmark read it).
    """

    def __init__(self, device: torch.device, budget: int | None = None):
        self.device = device
        self.budget = budget
        self._slots: dict[int, _Slot] = {}
        self._tick = 0
        self.moves = 0

    @property
    def moves_modules(self) -> bool:
        return self.device.type != "cpu"

    # -- what is held -----------------------------------------------------------------------
    def track(self, module: torch.nn.Module, owner: str, label: str = "") -> None:
        """Record that ``owner`` (a checkpoint or VAE cache key) holds ``module``."""
        slot = self._slots.get(id(module))
        if slot is None:
            slot = _Slot(module, label or type(module).__name__, module_bytes(module))
            self._slots[id(module)] = slot
        slot.owners.add(owner)

    def forget(self, owner: str) -> None:
        """``owner`` left the RAM cache: drop the modules nobody else holds."""
        for key, slot in list(self._slots.items()):
            slot.owners.discard(owner)
            if not slot.owners:
                if slot.on_device:
                    self._to_host(slot)
                del self._slots[key]

    def tracked(self) -> list[torch.nn.Module]:
        return [s.module for s in self._slots.values()]

    def is_on_device(self, module: torch.nn.Module) -> bool:
        slot = self._slots.get(id(module))
        return not self.moves_modules or (slot is not None and slot.on_device)

    def bytes_on_device(self) -> int:
        return sum(s.nbytes for s in self._slots.values() if s.on_device)

    def held_bytes(self) -> int:
        return sum(s.nbytes for s in self._slots.values())

    def refresh_size(self, module: torch.nn.Module) -> None:
        slot = self._slots.get(id(module))
        if slot is not None:
            slot.nbytes = module_bytes(module)

    # -- placing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def use(self, modules: list[torch.nn.Module]):
        """Put ``modules`` on the device and keep them there (pinned) inside the block."""
        slots = self._slots_of(modules)
        self._place(slots)
        for s in slots:
            s.pins += 1
        try:
            yield
        finally:
            for s in slots:
                s.pins -= 1

    @contextlib.contextmanager
    def off_device(self, module: torch.nn.Module):
        """Take ``module`` off the device while its structure or weights change, then count
        its new size. The next :meth:`use` puts it back."""
        slot = self._slots.get(id(module))
        if slot is not None and slot.pins:
            raise RuntimeError(f"{slot.label} is in use by a running job")
        if slot is not None and slot.on_device:
            self._to_host(slot)
        yield
        self.refresh_size(module)

    def _slots_of(self, modules) -> list[_Slot]:
        out, seen = [], set()
        for m in modules:
            if m is None or id(m) in seen:
                continue
            seen.add(id(m))
            slot = self._slots.get(id(m))
            if slot is None:
                raise KeyError(f"module {type(m).__name__} is not held by the manager")
            out.append(slot)
        return out

    def _place(self, wanted: list[_Slot]) -> None:
        self._tick += 1
        for s in wanted:
            s.last_used = self._tick
        if not self.moves_modules:
            return
        need = sum(s.nbytes for s in wanted if not s.on_device)
        self._make_room(need, keep={id(s.module) for s in wanted})
        for s in wanted:
            if not s.on_device:
                self._to_device(s)

    def _make_room(self, need: int, keep: set[int]) -> None:
        """Move least-recently-used modules that are not needed off the device until ``need``
        more bytes fit in the budget."""
        if self.budget is None:
            return
        used = self.bytes_on_device()
        victims = sorted((s for s in self._slots.values()
                          if s.on_device and id(s.module) not in keep and not s.pins),
                         key=lambda s: s.last_used)
        for s in victims:
            if used + need <= self.budget:
                break
            log.debug("placement: %s leaves %s (LRU)", s.label, self.device)
            self._to_host(s)
            used -= s.nbytes
        if need and used + need > self.budget:
            log.warning("the job's models (%.1f GB) do not fit the device budget (%.1f GB "
                        "free of %.1f GB); consider --offload model",
                        need / 2**30, (self.budget - used) / 2**30, self.budget / 2**30)

    def evict_all(self) -> None:
        """Everything not in use leaves the device."""
        for s in self._slots.values():
            if s.on_device and not s.pins:
                self._to_host(s)

    # -- moving -------------------------------------------------------------------------------
    def _to_device(self, slot: _Slot) -> None:
        host = []
        for sub in slot.module.modules():
            for kind in ("_parameters", "_buffers"):
                for attr, t in getattr(sub, kind).items():
                    if t is not None:
                        host.append((sub, kind, attr, t.data if kind == "_parameters" else t))
        slot.module.to(self.device)
        slot.host = host
        self.moves += 1

    def _to_host(self, slot: _Slot) -> None:
        # point every tensor back at its RAM copy: no device->host copy, the device memory is
        # freed as soon as nothing else refers to it
        for sub, kind, attr, t in slot.host or ():
            if kind == "_parameters":
                p = sub._parameters[attr]
                if torch._has_compatible_shallow_copy_type(p, t):
                    p.data = t  # the same Parameter object (CUDA): compiled graphs keep it
                else:  # meta tensors cannot take CPU data: torch's .to() replaced them too
                    sub._parameters[attr] = torch.nn.Parameter(t, p.requires_grad)
            else:
                sub._buffers[attr] = t
        slot.host = None
