"""The fixed choice lists a request is checked against and the UI and APIs offer: samplers, modes,
resize modes, inpaint areas, masked contents, hires upscalers. Plain data, importing nothing from
``webui``, so the request, the engine and the UI can all read them without importing each other.
"""

from __future__ import annotations

#: A1111 sampler names, as AUTOMATIC1111 shows them and writes them into infotexts; each one maps
#: to a diffusers scheduler in ``webui.engine.samplers``.
SAMPLER_NAMES: list[str] = [
    "Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE", "DPM++ 2M SDE Karras",
    "DPM++ SDE Karras", "DPM2", "DPM2 a", "DDIM", "UniPC", "Heun", "LMS", "LMS Karras", "PLMS",
]

MODES = ("txt2img", "img2img", "inpaint", "outpaint")
#: A1111's resize modes, in A1111's order (its API sends their index)
RESIZE_MODES = ["Just resize", "Crop and resize", "Resize and fill"]
INPAINT_AREAS = ("Whole picture", "Only masked")
MASKED_CONTENTS = ("fill", "original", "latent noise")
HR_UPSCALERS = ("Latent", "Lanczos")
