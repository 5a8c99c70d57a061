"""The result of reading an image's metadata (:class:`GenerationInfo`) and the names of the tools
that write it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from webui.metadata.infotext import format_infotext

logger = logging.getLogger(__name__)

A1111 = "a1111"
FORGE = "forge"
SDNEXT = "sdnext"
CIVITAI = "civitai"
STABILITY_MATRIX = "stability_matrix"
COMFYUI = "comfyui"
INVOKEAI = "invokeai"
FOOOCUS = "fooocus"
NOVELAI = "novelai"
SWARMUI = "swarmui"
UNKNOWN = "unknown"

#: Sources whose ``params`` use A1111 infotext labels ("Steps", "CFG scale", ...).
INFOTEXT_SOURCES = frozenset({A1111, FORGE, SDNEXT, CIVITAI, STABILITY_MATRIX, COMFYUI})


@dataclass
class GenerationInfo:
    """Generation parameters read from an image.

    ``source`` is one of "a1111", "forge", "sdnext", "civitai", "stability_matrix", "comfyui",
    "invokeai", "fooocus", "novelai", "swarmui" or "unknown". ``params`` holds every key/value found
    as strings: A1111 labels for the sources in :data:`INFOTEXT_SOURCES`, the tool's own (flattened,
    dotted) JSON keys for the others. ``raw`` is the metadata text as found (infotext or JSON).
    ``scheduler`` is the schedule type (A1111 "Schedule type", ComfyUI/Fooocus/SwarmUI "scheduler",
    NovelAI "noise_schedule") when stored separately from the sampler.
    """

    source: str = UNKNOWN
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    model_hash: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    scheduler: str | None = None

    @property
    def size(self) -> str | None:
        """``"WIDTHxHEIGHT"`` when both are known, else ``None``."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"

    def _core_params(self) -> dict[str, object]:
        return {
            "Steps": self.steps,
            "Sampler": self.sampler,
            "Schedule type": self.scheduler,
            "CFG scale": self.cfg_scale,
            "Seed": self.seed,
            "Size": self.size,
            "Model hash": self.model_hash,
            "Model": self.model,
        }

    def infotext(self) -> str:
        """Return these parameters as an A1111 infotext (the ``parameters`` PNG text).

        For sources that already use A1111 labels every param is kept, in its original order, with
        the typed fields written over their labels; for the other sources only the typed fields are
        written, since their native keys mean nothing to A1111.
        """
        core = self._core_params()
        if self.source in INFOTEXT_SOURCES:
            params: dict[str, object] = dict(self.params)
            for key, value in core.items():
                if value is not None:
                    params[key] = value
        else:
            params = core
        try:
            return format_infotext(self.prompt, self.negative_prompt, params)
        except ValueError:
            logger.debug("params with labels infotext cannot hold; writing typed fields only")
            return format_infotext(self.prompt, self.negative_prompt, core)

    def to_table(self) -> list[tuple[str, str]]:
        """Return ``(name, value)`` rows for a UI table: source, prompts, typed fields, other params.

        Empty values are left out, and params that repeat a row already shown (same label, or the
        same text as the prompt or negative prompt) are not shown twice.
        """
        rows: list[tuple[str, str]] = [("Source", self.source)]
        rows += [("Prompt", self.prompt), ("Negative prompt", self.negative_prompt)]
        for label, value in self._core_params().items():
            if value is not None:
                rows.append((label, _display(value)))
        rows = [(name, value) for name, value in rows if value != ""]
        shown_names = {name for name, _ in rows}
        shown_texts = {self.prompt, self.negative_prompt} - {""}
        for key, value in self.params.items():
            if key in shown_names or value == "" or value in shown_texts:
                continue
            rows.append((key, value))
        return rows


def _display(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
