"""A1111 samplers and schedule types (``webui.choices.SAMPLERS``, ``SCHEDULE_TYPES``) mapped to
diffusers schedulers.

Names are the ones AUTOMATIC1111 shows and writes into infotexts ("Euler a", "DPM++ 2M" +
"Karras"), so recorded parameters mean the same thing in both apps. "Automatic" is the
sampler's own default schedule, what the sampler name alone meant before A1111 1.9.
"""

from __future__ import annotations

from typing import Any

from webui.choices import AUTOMATIC, SAMPLER_SCHEDULES, SAMPLERS, split_sampler_name

# name -> (diffusers scheduler class name, extra config overrides)
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ SDE": ("DPMSolverSDEScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    # A1111's PLMS: pseudo linear multistep, diffusers' PNDM without its Runge-Kutta warm-up
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
}

# schedule type label -> config overrides. Uniform: timesteps evenly spaced over the whole
# range (k-diffusion's get_sigmas, diffusers' "linspace"); SGM Uniform: evenly spaced from the
# top, the last one above zero (diffusers' "trailing", as its docs map A1111's sgm_uniform).
_SCHEDULES: dict[str, dict[str, Any]] = {
    AUTOMATIC: {},
    "Uniform": {"timestep_spacing": "linspace"},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
    "Beta": {"use_beta_sigmas": True},
}

if list(_SAMPLERS) != SAMPLERS:  # one list of names, in one order, everywhere
    raise ImportError("webui.engine.samplers and webui.choices.SAMPLERS list different samplers")

# keys that one scheduler's config may carry but that would change another's behaviour
_RESET_KEYS = ("use_karras_sigmas", "algorithm_type", "use_exponential_sigmas",
               "use_beta_sigmas", "final_sigmas_type", "skip_prk_steps")


def make_scheduler(name: str, base_config: dict, schedule: str = AUTOMATIC):
    """Build the diffusers scheduler for sampler ``name`` with schedule type ``schedule``
    from a pipeline's scheduler config. A combined name ("DPM++ 2M Karras") names both."""
    import diffusers

    if name not in SAMPLER_SCHEDULES:
        split = split_sampler_name(name)
        if split is None:
            raise ValueError(f"unknown sampler {name!r}")
        name, named = split
        schedule = named if schedule == AUTOMATIC else schedule
    if schedule not in SAMPLER_SCHEDULES[name]:
        raise ValueError(f"{name} cannot run with schedule type {schedule!r}")
    cls_name, overrides = _SAMPLERS[name]
    config = {k: v for k, v in dict(base_config).items() if k not in _RESET_KEYS}
    config.update(overrides)
    config.update(_SCHEDULES[schedule])
    return getattr(diffusers, cls_name).from_config(config)
