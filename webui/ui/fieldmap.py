"""A generation tab lists its inputs once, as a map: endpoint keyword -> component.

The keys are ``GenerationRequest`` attribute names, or one of the documented endpoint
keywords in ``ALIASES`` (``image`` for ``init_image``, outpaint's ``left``/``right``/``up``/
``down`` and ``fill``). From that one dict come:

* the Gradio handler (``request_handler``): its signature is the map's keys in order, so the
  ``/txt2img``, ``/img2img``, ``/inpaint`` and ``/outpaint`` endpoints take those keywords,
  and its inputs are the map's components in the same order (never matched by hand);
* the request it runs (``request_from``): each value goes to the attribute of its name;
* the fields "Send to" fills (``webui.ui.sendto.send_fields``).

Adding a field to a tab is one line in its map (plus the component itself).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields as dataclass_fields
from typing import Callable

import gradio as gr

from webui.request import GenerationRequest
from webui.ui.controlnet_ui import collect_control_units
from webui.ui.image_modes import read_upload
from webui.ui.ranges import warn_on_sliders
from webui.ui.scripts import collect_script_args
from webui.ui.page import notify_js
from webui.ui.sendto import SendSource
from webui.ui.widgets import SHOW_SEED_JS, CommonControls, OutputPanel, none_if_unset

#: documented endpoint keywords that are not ``GenerationRequest`` attribute names
ALIASES = {"image": "init_image", "left": "outpaint_left", "right": "outpaint_right",
           "up": "outpaint_up", "down": "outpaint_down", "fill": "masked_content"}
#: keywords an endpoint cannot be called without (every other one has a default)
REQUIRED = ("prompt", "image")
REQUEST_FIELDS = frozenset(f.name for f in dataclass_fields(GenerationRequest))


@dataclass
class TabParts:
    """What a generation tab builder hands the layout.

    ``inputs``: the request map (endpoint keyword -> the tab's component), ``fields``: what
    "Send to" fills (``webui.ui.sendto.FIELD_NAMES`` -> component), ``controls``: the common
    controls (the Settings defaults apply to them), ``send``: the send buttons under the
    output, ``output``: the output panel.
    """

    inputs: dict
    fields: dict
    controls: CommonControls
    send: SendSource
    output: OutputPanel


def request_field(name: str) -> str:
    """The ``GenerationRequest`` attribute an endpoint keyword sets."""
    return ALIASES.get(name, name)


def common_inputs(controls: CommonControls) -> dict:
    """Size, steps, CFG, seed, sampler and batch: the keywords every endpoint takes first."""
    return {"width": controls.width, "height": controls.height, "steps": controls.steps,
            "cfg_scale": controls.cfg_scale, "seed": controls.seed,
            "sampler": controls.sampler, "batch_size": controls.batch_size,
            "batch_count": controls.batch_count}


def model_inputs(controls: CommonControls) -> dict:
    """Refiner, its switch point, the VAE, then schedule type and clip skip (added after the
    others, so callers that pass the earlier keywords by position keep working): the
    keywords every endpoint takes last."""
    return {"refiner": controls.refiner, "refiner_switch_at": controls.refiner_switch_at,
            "vae": controls.vae, "scheduler": controls.scheduler,
            "clip_skip": controls.clip_skip}


def clean_value(ctx, field: str, value):
    """A component's value as the request attribute ``field`` wants it."""
    if field == "negative_prompt":
        return value or ""
    if field == "model":
        return value or None
    if field in ("refiner", "vae"):
        return none_if_unset(value)
    if field == "styles":
        return list(value or [])
    if field in ("enable_hr", "invert_mask"):
        return bool(value)
    if field == "init_image":
        return read_upload(ctx, value, "image")
    if field == "mask":
        return read_upload(ctx, value, "mask")
    return value


def request_from(ctx, mode: str, values: dict) -> GenerationRequest:
    """The request for ``values`` ({endpoint keyword: value}); a keyword that names no
    request attribute is a ``TypeError`` (a renamed field fails loudly)."""
    kwargs = {}
    for name, value in values.items():
        field = request_field(name)
        if field not in REQUEST_FIELDS:
            raise TypeError(f"{mode}: {name!r} is not a GenerationRequest field")
        kwargs[field] = clean_value(ctx, field, value)
    return GenerationRequest(mode=mode, **kwargs)


def handler_signature(names) -> inspect.Signature:
    """``(prompt, ..., request: gr.Request = None, progress=gr.Progress())``: the keywords
    in ``REQUIRED`` without a default, every other one defaulting to None (Gradio then shows
    the component's value as the default)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(n, kind) if n in REQUIRED
              else inspect.Parameter(n, kind, default=None) for n in names]
    params += [inspect.Parameter("request", kind, default=None, annotation=gr.Request),
               inspect.Parameter("progress", kind, default=gr.Progress())]
    return inspect.Signature(params)


def request_handler(ctx, mode: str, inputs: dict, run: Callable, doc: str,
                    adapt: Callable[[dict], dict] | None = None, name: str | None = None):
    """A Gradio generator handler taking ``inputs``' keywords (in order; pass
    ``list(inputs.values())`` as the event's inputs): it builds the request with
    ``request_from`` (after ``adapt(values)`` when given, for values that need more than a
    rename) and yields what ``run(ctx, req, request, progress)`` yields. ``name`` (default:
    ``mode``) is the function's name, which Gradio takes for an event's default api_name."""
    signature = handler_signature(inputs)

    def handler(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        request, progress = values.pop("request"), values.pop("progress")
        values = collect_script_args(values)  # the Script accordion's keywords, if any
        values = collect_control_units(ctx, values)  # the ControlNet accordion's
        if adapt is not None:
            values = adapt(values)
        yield from run(ctx, request_from(ctx, mode, values), request, progress)

    handler.__signature__ = signature
    handler.__annotations__ = {"request": gr.Request}
    handler.__name__ = handler.__qualname__ = name or mode
    handler.__doc__ = doc
    return handler


def wire_generate(button: gr.Button, handler, inputs: dict, output: OutputPanel,
                  **event) -> None:
    """``button.click`` running ``handler`` (from ``request_handler(..., inputs, ...)``)
    on ``inputs``' components, in the order its signature names them."""
    names = [n for n in inspect.signature(handler).parameters if n not in ("request",
                                                                             "progress")]
    if names != list(inputs):
        raise ValueError(f"handler takes {names}, the map has {list(inputs)}")
    warn_on_sliders(inputs)
    # one progress bar, drawn in the panel's progress area: over the gallery it would hide
    # the live previews
    button.click(handler, list(inputs.values()), output.outputs(), concurrency_limit=None,
                 show_progress_on=[output.progress], **event).then(
        None, output.used_seed, output.seed_shown, js=SHOW_SEED_JS, api_visibility="private",
        queue=False).then(
        None, None, None, js=notify_js(output.tab), api_visibility="private", queue=False)
