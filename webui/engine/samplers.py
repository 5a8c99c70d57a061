"""A1111 sampler names (``webui.choices.SAMPLER_NAMES``) mapped to diffusers schedulers.

Names are the ones AUTOMATIC1111 shows and writes into infotexts ("Euler a", "DPM++ 2M Karras"),
so recorded parameters mean the same thing in both apps.
"""

from __future__ import annotations

from typing import Any

from webui.choices import SAMPLER_NAMES

# name -> (diffusers scheduler class name, extra config overrides)
_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler",
                            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    "DPM++ SDE Karras": ("DPMSolverSDEScheduler", {"use_karras_sigmas": True}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "LMS Karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    # A1111's PLMS: pseudo linear multistep, diffusers' PNDM without its Runge-Kutta warm-up
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
}

if list(_SAMPLERS) != SAMPLER_NAMES:  # one list of names, in one order, everywhere
    raise ImportError("webui.engine.samplers and webui.choices.SAMPLER_NAMES list different "
                      "samplers")

# keys that one scheduler's config may carry but that would change another's behaviour
_RESET_KEYS = ("use_karras_sigmas", "algorithm_type", "use_exponential_sigmas",
               "use_beta_sigmas", "final_sigmas_type", "skip_prk_steps")


def make_scheduler(name: str, base_config: dict):
    """Build the diffusers scheduler for sampler ``name`` from a pipeline's scheduler config."""
    import diffusers

    cls_name, overrides = _SAMPLERS[name]
    config = {k: v for k, v in dict(base_config).items() if k not in _RESET_KEYS}
    config.update(overrides)
    return getattr(diffusers, cls_name).from_config(config)
