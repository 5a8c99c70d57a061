"""The Script accordion of every generation tab: pick one of the extensions' selectable
scripts (X/Y/Z plot...) and fill its arguments.

Its components join the tab's request map (``webui.ui.fieldmap``) under endpoint keywords
``script`` (the title, "None" for none) and ``script__<slug>__<field>`` for each argument of
each script; ``collect_script_args`` turns the chosen script's ones into ``script_args`` (a
dict, validated by the job runner against the script's model like the API's list).
"""

from __future__ import annotations

import re

import gradio as gr

NONE = "None"
PREFIX = "script__"


def slug(title: str) -> str:
    """A Python identifier for a script title ("X/Y/Z plot" -> "x_y_z_plot")."""
    out = re.sub(r"\W+", "_", title.strip().lower()).strip("_")
    return out if out and not out[0].isdigit() else f"s_{out}"


def script_controls(ctx, tab: str) -> dict:
    """Build the accordion (nothing when no script runs in ``tab``); the request-map entries
    of its components, in order."""
    scripts = ctx.extensions.scripts(tab, alwayson=False)
    if not scripts:
        return {}
    inputs: dict = {}
    groups = []
    with gr.Accordion("Script", open=False, elem_id=f"{tab}_script_accordion"):
        choice = gr.Dropdown([NONE] + [s.title for s in scripts], value=NONE, label="Script",
                             elem_id=f"{tab}_script")
        inputs["script"] = choice
        for script in scripts:
            with gr.Group(visible=False, elem_id=f"{tab}_script_{slug(script.title)}") as group:
                components = script.ui(tab)
            fields = list(script.args.model_fields)
            if len(components) != len(fields):
                raise ValueError(f"script {script.title!r}: ui() made {len(components)} "
                                 f"components for {len(fields)} arguments")
            for name, comp in zip(fields, components):
                inputs[f"{PREFIX}{slug(script.title)}__{name}"] = comp
            groups.append((script.title, group))

    def show_script_args(title):
        return [gr.update(visible=title == t) for t, _ in groups]

    choice.change(show_script_args, choice, [g for _, g in groups], api_visibility="private",
                  queue=False)
    return inputs


def collect_script_args(values: dict) -> dict:
    """Pop the script keywords from an endpoint's ``values``; put ``script`` and the chosen
    script's ``script_args`` (a {field: value} dict) back."""
    title = values.pop("script", None)
    mine: dict = {}
    chosen = slug(title) if title and title != NONE else None
    for key in [k for k in values if k.startswith(PREFIX)]:
        value = values.pop(key)
        script, _, field = key[len(PREFIX):].partition("__")
        if script == chosen and value is not None:
            mine[field] = value
    if chosen:
        values["script"] = title
        values["script_args"] = mine
    return values
