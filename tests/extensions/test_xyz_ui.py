"""X/Y/Z plot: the controls a generation tab shows, one per argument in A1111's order."""

from __future__ import annotations

import pytest

from extensions.xyz_plot.script import XYZArgs, XYZPlot
from extensions.xyz_plot.ui import axis_updates


@pytest.mark.parametrize("tab", ["txt2img", "img2img", "inpaint", "outpaint"])
def test_components_in_args_order(tab):
    import gradio as gr

    with gr.Blocks():
        components = XYZPlot().ui(tab)
    assert len(components) == len(XYZArgs.model_fields)
    x_type, x_values, x_drop, y_type = components[:4]
    assert isinstance(x_type, gr.Dropdown) and x_type.value == "Seed"
    assert isinstance(x_values, gr.Textbox) and isinstance(x_drop, gr.Dropdown)
    assert y_type.value == "Nothing"
    choices = [c[0] if isinstance(c, tuple) else c for c in x_type.choices]
    assert {"Seed", "Steps", "CFG Scale", "Sampler", "Checkpoint name", "Size",
            "LoRA weight", "Refiner switch at", "Prompt S/R", "Denoising"} <= set(choices)
    assert "Eta" not in choices  # what this app cannot vary is not offered
    assert ("Hires steps" in choices) == (tab == "txt2img")
    margin = components[16]
    assert isinstance(margin, gr.Slider) and margin.maximum == 500
    # the values the components start with make valid arguments
    values = [c.value for c in components]
    values[1] = "1, 2"
    args = XYZArgs(**dict(zip(XYZArgs.model_fields, values)))
    assert args.x_type == "Seed" and args.draw_legend is True and args.margin_size == 0


def test_axis_type_change_switches_text_and_dropdown():
    text, drop = axis_updates("Sampler", "", [])
    assert text["visible"] is False and drop["visible"] is True and "Euler a" in drop["choices"]
    text, drop = axis_updates("Steps", "1-5", ["Euler"])
    assert text["visible"] is True and "10-30 (+10)" in text["placeholder"]
    assert drop["visible"] is False and drop["value"] == []  # a dropdown left filled would win
