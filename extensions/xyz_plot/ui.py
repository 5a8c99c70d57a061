"""The X/Y/Z plot's controls in a generation tab: one component per argument, in the order of
``XYZArgs``' fields (A1111's ``script_args`` order)."""

from __future__ import annotations

from .axes import axis_by_name, supported_labels

AXIS_DEFAULTS = {"x": "Seed", "y": "Nothing", "z": "Nothing"}


def _hint(name: str) -> str:
    axis = axis_by_name(name or "Nothing")
    if axis is None or axis.name == "Nothing":
        return ""
    if axis.hint:
        return axis.hint
    if axis.kind == "int":
        return "e.g. 1, 2, 3 or 1-10 (+2) or 1-10 [5]"
    if axis.kind == "float":
        return "e.g. 0.5, 1 or 0.5-1.5 (+0.25) or 0-1 [5]"
    return "comma-separated; quote a value holding a comma"


def axis_updates(name: str, values: str = "", picked=None):
    """(values textbox, values dropdown) updates for axis type ``name``: an axis with a fixed
    list of choices (Sampler, Schedule type, Hires upscaler) picks from a dropdown, the
    others take text."""
    import gradio as gr

    axis = axis_by_name(name or "Nothing")
    choices = list(axis.choices) if axis is not None and axis.choices else None
    if choices:
        keep = [v for v in (picked or []) if v in choices]
        return (gr.update(visible=False, value=""),
                gr.update(choices=choices, value=keep, visible=True))
    return (gr.update(visible=axis is not None and axis.name != "Nothing",
                      placeholder=_hint(name), value=values),
            gr.update(choices=[], value=[], visible=False))


def build(tab: str) -> list:
    """The components (inside the script's accordion in ``tab``)."""
    import gradio as gr

    labels = supported_labels(tab)
    rows = {}
    with gr.Column():
        for letter in ("x", "y", "z"):
            up = letter.upper()
            default = AXIS_DEFAULTS[letter]
            with gr.Row():
                kind = gr.Dropdown(labels, value=default, label=f"{up} type", scale=1,
                                   elem_id=f"{tab}_xyz_{letter}_type")
                values = gr.Textbox(label=f"{up} values", lines=1, scale=3,
                                    placeholder=_hint(default), visible=default != "Nothing",
                                    elem_id=f"{tab}_xyz_{letter}_values")
                picked = gr.Dropdown([], value=[], label=f"{up} values", multiselect=True,
                                     visible=False, scale=3,
                                     elem_id=f"{tab}_xyz_{letter}_values_dropdown")
            kind.input(axis_updates, inputs=[kind, values, picked], outputs=[values, picked])
            rows[letter] = (kind, values, picked)
        with gr.Row():
            draw_legend = gr.Checkbox(True, label="Draw legend")
            no_fixed_seeds = gr.Checkbox(False, label="Keep -1 for seeds",
                                         info="each picture draws its own random seed")
            vary = [gr.Checkbox(False, label=f"Vary seeds for {up}",
                                info=f"seed + 1 for each {up} step") for up in "XYZ"]
        with gr.Row():
            margin_size = gr.Slider(0, 500, value=0, step=2, label="Grid margins (px)")
            # accepted for A1111's argument order; every grid and picture is returned anyway
            include_lone_images = gr.Checkbox(True, visible=False)
            include_sub_grids = gr.Checkbox(True, visible=False)
            csv_mode = gr.Checkbox(False, visible=False)
        with gr.Row():
            swaps = [(gr.Button(f"Swap {a.upper()}/{b.upper()} axes", size="sm"), a, b)
                     for a, b in (("x", "y"), ("y", "z"), ("x", "z"))]

    def swap(kind_a, values_a, picked_a, kind_b, values_b, picked_b):
        text_a, drop_a = axis_updates(kind_b, values_b, picked_b)
        text_b, drop_b = axis_updates(kind_a, values_a, picked_a)
        return kind_b, text_a, drop_a, kind_a, text_b, drop_b

    for button, a, b in swaps:
        both = [*rows[a], *rows[b]]
        button.click(swap, inputs=both, outputs=both)

    return [*rows["x"], *rows["y"], *rows["z"], draw_legend, include_lone_images,
            include_sub_grids, no_fixed_seeds, *vary, margin_size, csv_mode]
