"""Other tools' sampler names as ours (``webui.choices.SAMPLERS`` + ``SCHEDULE_TYPES``).

ComfyUI, Fooocus and SwarmUI store ``sampler_name`` + ``scheduler`` (``dpmpp_2m`` + ``karras``),
A1111 1.9+ ``Sampler: DPM++ 2M`` + ``Schedule type: Karras``, A1111 before 1.9 one name
(``DPM++ 2M Karras``), InvokeAI ``dpmpp_2m_k`` (3.x+) or ``k_lms`` (2.x), NovelAI
``k_euler_ancestral`` + ``noise_schedule``, Stability Matrix ``Euler Ancestral Karras``.
:func:`our_sampler` turns any of them into our sampler and schedule type, or says why it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from webui.choices import AUTOMATIC, SAMPLER_SCHEDULES, split_sampler_name

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
# schedules that mean "the sampler's own default" (ComfyUI normal/simple, A1111 Automatic,
# NovelAI native)
_DEFAULT_SCHEDULES = {"", "normal", "automatic", "native", "simple", "default"}
_KARRAS = "karras"
# a normalised schedule name -> our schedule type label
_SCHEDULES = {"karras": "Karras", "exponential": "Exponential", "uniform": "Uniform",
              "sgm_uniform": "SGM Uniform", "beta": "Beta"}


@dataclass(frozen=True)
class SamplerMatch:
    """``name``: our sampler (None when there is no equivalent), ``scheduler``: our schedule
    type label; ``notice``: what was not kept."""

    name: str | None
    scheduler: str = AUTOMATIC
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
    """Our sampler and schedule type for another tool's sampler and schedule type.

    A sampler we have with a schedule it cannot run (``Euler a`` + Karras) or a schedule we
    lack (ComfyUI's ``kl_optimal``) gives our sampler with Automatic and a notice; an unknown
    sampler gives ``name=None`` and a notice.
    """
    if not sampler or not sampler.strip():
        return SamplerMatch(None)
    sampler = sampler.strip()
    shown = f"{sampler} + {schedule}" if schedule else sampler
    exact = split_sampler_name(sampler)  # ours, or A1111's "DPM++ 2M Karras"
    base, sched = _split(sampler, schedule)
    ours = exact[0] if exact else _BASES.get(base)
    if ours is None:
        return SamplerMatch(None, notice=f"sampler {shown!r} has no equivalent here")
    if exact and exact[1] != AUTOMATIC:
        label = exact[1]
    elif sched in _DEFAULT_SCHEDULES:
        label = AUTOMATIC
    elif sched in _SCHEDULES:
        label = _SCHEDULES[sched]
    else:
        return SamplerMatch(ours, notice=f"{shown!r}: schedule {schedule!r} has no equivalent "
                                         f"here, {ours} uses its own (Automatic)")
    if label not in SAMPLER_SCHEDULES[ours]:
        return SamplerMatch(ours, notice=f"{shown!r}: {ours} has no {label} schedule here, "
                                         f"the {label} schedule was skipped")
    return SamplerMatch(ours, label)
