"""Other tools' sampler names as ours (``webui.choices.SAMPLER_NAMES``, A1111's combined names).

ComfyUI, Fooocus and SwarmUI store ``sampler_name`` + ``scheduler`` (``dpmpp_2m`` + ``karras``),
A1111 1.9+ ``Sampler: DPM++ 2M`` + ``Schedule type: Karras``, InvokeAI ``dpmpp_2m_k`` (3.x+) or
``k_lms`` (2.x), NovelAI ``k_euler_ancestral`` + ``noise_schedule``, Stability Matrix
``Euler Ancestral Karras``. :func:`our_sampler` turns any of them into one of our names, or says
why it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webui.choices import SAMPLER_NAMES

# a normalised base name (lower case, "_" between words, no "k_"/"sample_" prefix) -> ours
_BASES = {
    "euler": "Euler", "euler_a": "Euler a", "euler_ancestral": "Euler a",
    "heun": "Heun", "lms": "LMS", "ddim": "DDIM", "plms": "PLMS", "pndm": "PLMS",
    "dpm2": "DPM2", "dpm_2": "DPM2", "kdpm_2": "DPM2",
    "dpm2_a": "DPM2 a", "dpm_2_a": "DPM2 a", "dpm_2_ancestral": "DPM2 a", "kdpm_2_a": "DPM2 a",
    "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE", "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE",
    "unipc": "UniPC", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC",
}
# schedules that mean "the sampler's own default" (ComfyUI normal/simple/sgm_uniform, A1111
# Automatic/Uniform, NovelAI native)
_DEFAULT_SCHEDULES = {"", "normal", "automatic", "uniform", "native", "simple", "sgm_uniform",
                      "default"}
_KARRAS = "karras"


@dataclass(frozen=True)
class SamplerMatch:
    """``name``: ours (None when there is no equivalent); ``notice``: what was not kept."""

    name: str | None
    notice: str | None = None


def _normalise(text: str) -> str:
    text = text.strip().lower().replace("++", "pp")
    text = re.sub(r"[\s\-.]+", "_", text)
    for prefix in ("sample_", "k_"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _split(sampler: str, schedule: str | None) -> tuple[str, str]:
    """(normalised base, normalised schedule) from a sampler name that may carry its schedule
    (``DPM++ 2M Karras``, ``euler_ancestral_karras``, InvokeAI ``dpmpp_2m_k``)."""
    base = _normalise(sampler)
    sched = _normalise(schedule or "")
    for suffix in ("_karras", "_k"):
        if base.endswith(suffix) and base[:-len(suffix)] in _BASES:
            base, sched = base[:-len(suffix)], sched if sched not in _DEFAULT_SCHEDULES else _KARRAS
            break
    return base, sched


def our_sampler(sampler: str | None, schedule: str | None = None) -> SamplerMatch:
    """Our sampler name for another tool's sampler and schedule type.

    An exact match wins; a sampler we have only with another schedule (``Euler a`` + Karras,
    ``DPM++ SDE`` + normal) gives our nearest name and a notice; an unknown sampler gives
    ``name=None`` and a notice.
    """
    if not sampler or not sampler.strip():
        return SamplerMatch(None)
    sampler = sampler.strip()
    if sampler in SAMPLER_NAMES and _normalise(schedule or "") in _DEFAULT_SCHEDULES:
        return SamplerMatch(sampler)
    shown = f"{sampler} + {schedule}" if schedule else sampler
    base, sched = _split(sampler, schedule)
    ours = _BASES.get(base)
    if ours is None:
        return SamplerMatch(None, f"sampler {shown!r} has no equivalent here")
    karras = f"{ours} Karras"
    if sched == _KARRAS:
        if karras in SAMPLER_NAMES:
            return SamplerMatch(karras)
        return SamplerMatch(ours, f"{shown!r}: no Karras variant of {ours} here, "
                                  f"the Karras schedule was skipped")
    if sched not in _DEFAULT_SCHEDULES:
        name = ours if ours in SAMPLER_NAMES else karras
        return SamplerMatch(name, f"{shown!r}: schedule {schedule!r} has no equivalent here, "
                                  f"{name} uses its own")
    if ours in SAMPLER_NAMES:
        return SamplerMatch(ours)
    return SamplerMatch(karras, f"{shown!r}: {ours} exists here only as {karras}")
