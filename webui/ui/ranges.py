"""Numbers typed outside a slider's range are never changed silently.

Gradio's slider clamps a typed number to its range when the box loses focus (typing 500
steps runs 150). The UI cannot refuse it the way the API does (the value is already clamped
when Generate reads it), so it says so at once, in the API's words: "steps must be between 1
and 150, got 500; set to 150". Both doors use the same ``Limits``.
"""

from __future__ import annotations

import gradio as gr


def clamp_notice(label: str, value, low, high) -> str | None:
    """The notice for ``value`` typed into a slider of ``low``..``high`` (None: in range)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if low <= number <= high:
        return None
    kept = high if number > high else low
    return (f"{label} must be between {low:g} and {high:g}, got {number:g}; "
            f"set to {kept:g}")


def warn_when_clamped(slider: gr.Slider, label: str | None = None) -> None:
    """Show a warning when a number typed into ``slider`` is outside its range (the slider
    then holds the nearest allowed value). Runs on the raw value (no preprocessing: Gradio
    would refuse it first) through the queue (warnings need it), never waiting for a job."""
    if getattr(slider, "_warns_when_clamped", False):  # a tab may wire two events on it
        return
    slider._warns_when_clamped = True
    name = label or slider.label or "value"
    low, high = slider.minimum, slider.maximum

    def check(value):
        notice = clamp_notice(name, value, low, high)
        if notice:
            gr.Warning(notice)

    slider.release(check, slider, None, preprocess=False, api_visibility="private",
                   concurrency_limit=None, show_progress="hidden")


def warn_on_sliders(inputs: dict) -> None:
    """``warn_when_clamped`` for every slider of a tab's request map, named by the request
    field (the API's word for it: "steps", "width", "CFG scale"...)."""
    words = {"cfg_scale": "CFG scale", "batch_size": "batch size", "batch_count": "batch count",
             "denoising_strength": "denoising strength", "mask_blur": "mask blur",
             "inpaint_padding": "masked area padding", "refiner_switch_at": "refiner switch at",
             "hr_scale": "hires upscale", "hr_steps": "hires steps",
             "hr_denoising_strength": "hires denoising strength"}
    for name, component in inputs.items():
        if isinstance(component, gr.Slider):
            warn_when_clamped(component, words.get(name, name.replace("_", " ")))
