"""The fixed choice lists a request is checked against and the UI and APIs offer: samplers,
schedule types, modes, resize modes, inpaint areas, masked contents, hires upscalers. Plain data
(and the two small functions that read sampler names), importing nothing from ``webui``, so the
request, the engine and the UI can all read them without importing each other.
"""

from __future__ import annotations

#: A1111's sampler names before 1.9 (a sampler and its schedule in one name), still accepted
#: everywhere and split into ``SAMPLERS`` + ``SCHEDULE_TYPES`` by ``split_sampler_name``.
SAMPLER_NAMES: list[str] = [
    "Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE", "DPM++ 2M SDE Karras",
    "DPM++ SDE Karras", "DPM2", "DPM2 a", "DDIM", "UniPC", "Heun", "LMS", "LMS Karras", "PLMS",
]

#: the samplers the Sampling method dropdown lists (A1111 1.9+: a plain sampler, its schedule
#: chosen apart in "Schedule type")
SAMPLERS: list[str] = [
    "Euler a", "Euler", "DPM++ 2M", "DPM++ 2M SDE", "DPM++ SDE", "DPM2", "DPM2 a", "DDIM",
    "UniPC", "Heun", "LMS", "PLMS",
]
#: A1111's schedule types this app honours: API name -> label (the label is what the UI shows
#: and infotexts write). "Automatic" is the sampler's own default schedule.
SCHEDULE_TYPES: dict[str, str] = {
    "automatic": "Automatic", "uniform": "Uniform", "karras": "Karras",
    "exponential": "Exponential", "sgm_uniform": "SGM Uniform", "beta": "Beta",
}
AUTOMATIC = "Automatic"
# Karras, Exponential and Beta reshape a sampler's sigmas: the ones without sigmas of their own
# (diffusers' Euler a, DDIM and PLMS) take the timestep spacings only
_SIGMA_SCHEDULES = ("Karras", "Exponential", "Beta")
_NO_SIGMAS = ("Euler a", "DDIM", "PLMS")
#: sampler -> the schedule type labels it can run with
SAMPLER_SCHEDULES: dict[str, tuple[str, ...]] = {
    s: tuple(label for label in SCHEDULE_TYPES.values()
             if s not in _NO_SIGMAS or label not in _SIGMA_SCHEDULES) for s in SAMPLERS}


def split_sampler_name(name: str) -> tuple[str, str] | None:
    """A sampler name that may carry its schedule type (A1111 before 1.9: "DPM++ 2M Karras";
    a label or API name after a space) -> (sampler, schedule type label); None when the
    sampler is not one of ``SAMPLERS``."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    if name in SAMPLERS:
        return name, AUTOMATIC
    for key, label in SCHEDULE_TYPES.items():
        for suffix in (label, key):
            if name.lower().endswith(" " + suffix.lower()):
                base = name[: -len(suffix) - 1].strip()
                if base in SAMPLERS:
                    return base, label
    return None


def schedule_label(value) -> str | None:
    """A schedule type label or API name, any case ("karras", "SGM Uniform") -> its label;
    None or "" -> Automatic; None when unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return AUTOMATIC
    if not isinstance(value, str):
        return None
    v = value.strip().lower()
    for key, label in SCHEDULE_TYPES.items():
        if v in (key, label.lower()):
            return label
    return None


MODES = ("txt2img", "img2img", "inpaint", "outpaint")
#: A1111's resize modes, in A1111's order (its API sends their index)
RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill"]
INPAINT_AREAS = ("Whole picture", "Only masked")
MASKED_CONTENTS = ("fill", "original", "latent noise")
#: hires fix upscalers without the app's registry (it adds models: webui.upscaling)
HR_UPSCALERS = ("Latent", "None", "Lanczos", "Nearest")
