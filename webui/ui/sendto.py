"""Send-to: an image and its parameters from a result, a Gallery entry or PNG Info to the
txt2img / img2img / inpaint / outpaint tabs ("send parameters back" to the tab that made it).

A source is a ``SendSource``: a ``payload`` state holding the fields of one image (keys as
``GenerationRequest`` attributes plus ``mode`` and ``image``, see
:mod:`webui.history.reuse`) and one button per target. The layout calls
:func:`wire_sources` once every tab exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gradio as gr
from PIL import Image

from webui.metadata.infotext import parse_infotext
from webui.history.reuse import SEND_TARGETS

log = logging.getLogger(__name__)

#: the fields a tab can take, in the order ``field_updates`` returns them
FIELD_NAMES = ("prompt", "negative_prompt", "styles", "width", "height", "steps", "cfg_scale",
               "seed", "sampler", "model", "denoising_strength", "image")
#: a send-to field a tab fills from another of its inputs: txt2img's Hires fix denoising
#: strength is what its infotext's "Denoising strength" means
FIELD_FALLBACKS = {"denoising_strength": "hr_denoising_strength"}
MADE_IT = "its tab"


def send_fields(inputs: dict) -> dict:
    """A tab's send-to map (``FIELD_NAMES`` -> component) from its request map (endpoint
    keyword -> component, see :mod:`webui.ui.fieldmap`)."""
    out = {}
    for name in FIELD_NAMES:
        comp = inputs.get(name)
        if comp is None and name in FIELD_FALLBACKS:
            comp = inputs.get(FIELD_FALLBACKS[name])
        if comp is not None:
            out[name] = comp
    return out


@dataclass
class SendSource:
    """A payload state and its send buttons (target -> button; ``its tab`` = its own mode).

    With ``inputs``/``to_payload`` set, the payload is computed from those components when a
    button is clicked (a result gallery: its items and the selected index), so a click right
    after a result arrives never sends a stale or empty payload.
    """

    payload: gr.State
    buttons: dict = field(default_factory=dict)
    inputs: list | None = None
    to_payload: object = None

    def click_inputs(self) -> list:
        return self.inputs if self.inputs is not None else [self.payload]

    def read(self, *values):
        return self.to_payload(*values) if self.to_payload is not None else values[0]


def send_buttons(tab: str, targets=SEND_TARGETS) -> SendSource:
    """A row of "Send to ..." buttons plus a "Send parameters back" one, and their payload."""
    payload = gr.State(None)
    buttons = {}
    with gr.Row():
        for target in targets:
            buttons[target] = gr.Button(f"Send to {target}", size="sm",
                                        elem_id=f"{tab}_send_to_{target}")
        buttons[MADE_IT] = gr.Button("Send parameters back", size="sm",
                                     elem_id=f"{tab}_send_back")
    return SendSource(payload, buttons)


def field_updates(fields: dict | None, names) -> list:
    """Values for the components named ``names`` (``gr.update()`` where ``fields`` has none)."""
    fields = fields or {}
    return [fields[n] if fields.get(n) is not None else gr.update() for n in names]


def path_of(item) -> str | None:
    """The file path of one gallery item, whatever shape Gradio gives it in."""
    if item is None:
        return None
    if isinstance(item, (list, tuple)):
        return path_of(item[0]) if item else None
    if isinstance(item, dict):
        return path_of(item.get("image") or item.get("path") or item.get("name"))
    if hasattr(item, "path"):
        return str(item.path)
    return str(item)


def fields_from_infotext(text: str, image: str | None, mode: str | None) -> dict:
    """Send-to fields from an A1111 infotext (prompt, negative, size, steps, ...)."""
    parsed = parse_infotext(text or "")
    p = parsed["params"]
    out: dict = {"prompt": parsed["prompt"], "negative_prompt": parsed["negative_prompt"],
                 "mode": mode, "image": image}
    if "Size" in p:
        try:
            out["width"], out["height"] = (int(v) for v in p["Size"].lower().split("x"))
        except ValueError:
            pass
    for key, name, kind in (("Steps", "steps", int), ("CFG scale", "cfg_scale", float),
                            ("Seed", "seed", int), ("Sampler", "sampler", str),
                            ("Model", "model", str),
                            ("Denoising strength", "denoising_strength", float)):
        try:
            if key in p:
                out[name] = kind(p[key])
        except ValueError:
            log.debug("ignoring %s=%r", key, p[key])
    if p.get("Styles"):
        out["styles"] = [s.strip() for s in p["Styles"].split(",") if s.strip()]
    return out


def fields_from_file(path: str | None, mode: str | None) -> dict | None:
    """Send-to fields of a generated PNG (its ``parameters`` chunk)."""
    if not path:
        return None
    try:
        with Image.open(path) as img:
            text = img.info.get("parameters", "")
    except OSError:
        return None
    return fields_from_infotext(text, path, mode)


def result_source(tab: str, gallery: gr.Gallery) -> SendSource:
    """Send buttons under a tab's output gallery: they send the selected image (the first
    until one is picked), read from the gallery at the moment of the click."""
    send = send_buttons(tab)
    selected = gr.State(0)

    def picked(evt: gr.SelectData):
        return evt.index if isinstance(evt.index, int) else 0

    def to_payload(items, index):
        if not items:
            return None
        i = index if isinstance(index, int) and 0 <= index < len(items) else 0
        return fields_from_file(path_of(items[i]), tab)

    gallery.change(lambda: 0, None, selected, api_visibility="private", queue=False)
    gallery.select(picked, None, selected, api_visibility="private", queue=False)
    send.inputs, send.to_payload = [gallery, selected], to_payload
    return send


def image_value(target: str, path: str | None):
    """The value that puts ``path`` into ``target``'s image input."""
    if target == "inpaint":
        return {"background": path, "layers": [], "composite": path}
    return path


def wire_sources(tabs: gr.Tabs, sources: list[SendSource], tab_fields: dict) -> None:
    """Connect every source's buttons to the target tabs.

    ``tab_fields``: mode -> {field name -> component} (names from ``FIELD_NAMES``). A click
    fills the target's fields from the payload (the image too, for image tabs) and opens it;
    "Send parameters back" goes to the tab named by the payload's ``mode``.
    """
    for source in sources:
        for target, button in source.buttons.items():
            if target == MADE_IT:
                outputs = [c for mode in tab_fields for c in tab_fields[mode].values()]

                def back(*values, source=source):
                    payload = source.read(*values)
                    mode = (payload or {}).get("mode") or "txt2img"
                    mode = mode if mode in tab_fields else "txt2img"
                    values = []
                    for m, comps in tab_fields.items():
                        fields = dict(payload or {}) if m == mode else {}
                        fields.pop("image", None)  # parameters only
                        values += field_updates(fields, comps)
                    return [*values, gr.Tabs(selected=mode)]

                button.click(back, source.click_inputs(), [*outputs, tabs],
                             api_visibility="private", queue=False)
                continue
            comps = tab_fields.get(target)
            if comps is None:
                continue

            def send(*values, target=target, names=tuple(comps), source=source):
                fields = dict(source.read(*values) or {})
                if fields.get("image") and "image" in names:
                    fields["image"] = image_value(target, fields["image"])
                if target != (fields.get("mode") or target):
                    fields.pop("denoising_strength", None)
                return [*field_updates(fields, names), gr.Tabs(selected=target)]

            button.click(send, source.click_inputs(), [*comps.values(), tabs],
                         api_visibility="private", queue=False)
