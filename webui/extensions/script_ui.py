"""Gradio components for a script's arguments, made from its pydantic model's fields."""

from __future__ import annotations

import typing

from pydantic import BaseModel


def default_components(model: type[BaseModel]) -> list:
    """One component per field, in field order: a checkbox for a bool, a number for an int
    or float, a dropdown for a ``Literal``, a textbox otherwise."""
    import gradio as gr

    out = []
    for name, info in model.model_fields.items():
        label = info.title or name.replace("_", " ").capitalize()
        kind = info.annotation
        default = None if info.is_required() else info.default
        if kind is bool:
            out.append(gr.Checkbox(label=label, value=bool(default)))
        elif kind in (int, float):
            out.append(gr.Number(label=label, value=default,
                                 precision=0 if kind is int else None))
        elif typing.get_origin(kind) is typing.Literal:
            choices = list(typing.get_args(kind))
            out.append(gr.Dropdown(choices, value=default if default in choices else
                                   choices[0], label=label))
        else:
            out.append(gr.Textbox(label=label, value="" if default is None else str(default)))
    return out
