"""Widgets shared by every generation tab: size presets, model picker, owner identity."""

from __future__ import annotations

from math import gcd

import gradio as gr

from webui.request import SIZE_PRESETS

CUSTOM = "Custom"


def preset_label(w: int, h: int) -> str:
    g = gcd(w, h)
    return f"{w}x{h} ({w // g}:{h // g})"


PRESET_CHOICES = [preset_label(w, h) for w, h in SIZE_PRESETS] + [CUSTOM]


def preset_size(label: str) -> tuple[int, int] | None:
    """``"1152x896 (9:7)"`` -> (1152, 896); Custom -> None."""
    if label == CUSTOM or not label:
        return None
    w, h = label.split(" ")[0].split("x")
    return int(w), int(h)


def size_row(limits):
    """Aspect-ratio preset dropdown plus free width/height sliders (multiples of 8)."""
    with gr.Row():
        preset = gr.Dropdown(PRESET_CHOICES, value=PRESET_CHOICES[0], label="Size preset (SDXL)",
                             scale=2)
        width = gr.Slider(limits.min_size, limits.max_size, value=1024, step=8, label="Width",
                          scale=2)
        height = gr.Slider(limits.min_size, limits.max_size, value=1024, step=8, label="Height",
                           scale=2)

    def on_preset(label):
        size = preset_size(label)
        if size is None:
            return gr.update(), gr.update()
        return size

    preset.change(on_preset, preset, [width, height], api_visibility="private",
                  queue=False)
    return preset, width, height


def owner_of(request: gr.Request | None) -> str:
    """Who is asking: the logged-in user, else this browser session."""
    if request is None:
        return "local"
    return getattr(request, "username", None) or request.session_hash or "local"
