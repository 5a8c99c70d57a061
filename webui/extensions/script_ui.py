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


def arg_infos(model: type[BaseModel]) -> list[dict]:
    """A1111's ``/script-info`` ``args``: label, value, minimum, maximum, step, choices."""
    out = []
    for name, info in model.model_fields.items():
        item = {"label": info.title or name, "value": None if info.is_required() else
                _plain(info.default), "minimum": None, "maximum": None, "step": None,
                "choices": None}
        for meta in info.metadata:
            for key, attr in (("minimum", "ge"), ("minimum", "gt"), ("maximum", "le"),
                              ("maximum", "lt")):
                if getattr(meta, attr, None) is not None:
                    item[key] = getattr(meta, attr)
        if typing.get_origin(info.annotation) is typing.Literal:
            item["choices"] = list(typing.get_args(info.annotation))
        out.append(item)
    return out


def _plain(value):
    return value if isinstance(value, (str, int, float, bool, list, dict, type(None))) \
        else str(value)
