"""What a job asks the model manager for, and the ready bundle it gets back.

The engine builds one :class:`JobModels` from a validated request and asks the manager once
(``with manager.prepare(job) as bundle``); the bundle holds everything the job runs with for
its whole length. Its pipelines are per-job views over the cached modules (``from_pipe``), so
the job's scheduler and VAE never touch a cached pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODES = ("txt2img", "img2img", "inpaint")


@dataclass(frozen=True)
class JobModels:
    """The models one job needs.

    checkpoint: the base (None: the selected one). modes: the pipeline families the job
    calls, first one the main (txt2img + img2img for a hires fix). loras: (name, weight)
    active on the base for this job, every other adapter off. make_scheduler: builds the
    job's sampler from a checkpoint's scheduler config.
    """

    checkpoint: str | None
    modes: tuple[str, ...] = ("txt2img",)
    refiner: str | None = None
    refiner_switch_at: float = 0.8
    vae: str | None = None
    loras: tuple[tuple[str, float], ...] = ()
    make_scheduler: Callable[[dict], Any] | None = None
    controls: tuple[str, ...] = ()  # ControlNet / IP-Adapter models of the job's units

    def __post_init__(self):
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"unknown pipeline mode(s) {bad}; expected some of {MODES}")


@dataclass
class JobBundle:
    """The pipelines, modules and infotext keys of one job (valid inside ``prepare``)."""

    base: Any  # LoadedModel
    pipes: dict[str, Any]  # mode -> per-job pipeline view
    vae: Any
    refiner: Any = None  # LoadedModel
    refiner_pipe: Any = None
    loras: list = field(default_factory=list)  # [(ModelInfo, weight)]
    params: dict = field(default_factory=dict)  # infotext keys naming the models
    controls: list = field(default_factory=list)  # LoadedControl per unit, in unit order
    image_encoder: Any = None  # the CLIP image encoder when a unit is an IP-Adapter

    @property
    def pipe(self):
        """The pipeline of the job's main mode."""
        return next(iter(self.pipes.values()))

    @property
    def model_name(self) -> str:
        return self.base.info.name

    @property
    def model_hash(self) -> str:
        return self.base.short_hash

    def modules(self) -> list:
        """Every torch module the job calls (each once)."""
        out: list = []
        for pipe in [*self.pipes.values(), self.refiner_pipe]:
            if pipe is None:
                continue
            for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
                m = getattr(pipe, name, None)
                if m is not None and all(m is not o for o in out):
                    out.append(m)
        extra = [c.module for c in self.controls] + [self.image_encoder]
        for m in extra:
            if m is not None and all(m is not o for o in out):
                out.append(m)
        return out
