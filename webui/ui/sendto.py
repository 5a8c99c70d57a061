"""Send-to: an image and its parameters from a result, a Gallery entry or PNG Info to the
txt2img / img2img / inpaint / outpaint tabs ("send parameters back" to the tab that made it).

A source is a ``SendSource``: a ``payload`` state holding the fields of one image (keys as
``GenerationRequest`` attributes plus ``mode`` and ``image``, see
:mod:`webui.history.reuse`) and one button per target. The layout calls
:func:`wire_sources` once every tab exists.

What is sent never breaks Generate: other tools' sampler names become ours
(:mod:`webui.metadata.samplers`), a prompt a style was applied to comes back without the
style's text and with the style selected (so styles never stack), and a value the target
field cannot take (an unknown sampler, a seed out of range, a checkpoint not installed, a
size off the slider) is not sent: that field keeps its value and a notice names what was
skipped (:func:`prepare_fields`, :func:`fit_fields`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import gradio as gr
from PIL import Image

from webui.metadata.infotext import parse_infotext
from webui.metadata.pnginfo import read_generation_info
from webui.metadata.samplers import our_sampler
from webui.history.reuse import SEND_TARGETS
from webui.prompting.styles import extract_styles
from webui.request import MAX_SEED

log = logging.getLogger(__name__)

#: the fields a tab can take, in the order ``field_updates`` returns them
FIELD_NAMES = ("prompt", "negative_prompt", "styles", "width", "height", "steps", "cfg_scale",
               "seed", "sampler", "scheduler", "clip_skip", "model", "denoising_strength",
               "image")
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


def send_label(target: str) -> str:
    """A send button's words: what it sends, and where (txt2img takes no image)."""
    if target == "txt2img":
        return "Use parameters in txt2img"
    return f"Send image and parameters to {target}"


def send_buttons(tab: str, targets=SEND_TARGETS,
                 back_label: str = "Use parameters in the tab that made it",
                 back_visible: bool = True) -> SendSource:
    """A row of "Send ... to <tab>" buttons plus a "send parameters back" one (to the tab
    that made the image), and their payload."""
    payload = gr.State(None)
    buttons = {}
    with gr.Row():
        for target in targets:
            buttons[target] = gr.Button(send_label(target), size="sm",
                                        elem_id=f"{tab}_send_to_{target}")
        buttons[MADE_IT] = gr.Button(back_label, size="sm", visible=back_visible,
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
                            ("Schedule type", "scheduler", str), ("Clip skip", "clip_skip", int),
                            ("Model", "model", str),
                            ("Denoising strength", "denoising_strength", float)):
        try:
            if key in p:
                out[name] = kind(p[key])
        except ValueError:
            log.debug("ignoring %s=%r", key, p[key])
    if "Sampler" in p:  # an A1111 infotext without the key means Clip skip 1 (A1111 too)
        out.setdefault("clip_skip", 1)
    if p.get("Styles"):
        out["styles"] = [s.strip() for s in p["Styles"].split(",") if s.strip()]
    return out


def fields_from_file(path: str | None, mode: str | None) -> dict | None:
    """Send-to fields of a generated image: a PNG's ``parameters`` chunk, or the infotext
    a JPEG or WebP keeps in its EXIF (the Settings tab's output formats)."""
    if not path:
        return None
    try:
        with Image.open(path) as img:
            text = img.info.get("parameters", "")
    except OSError:
        return None
    if not text:
        info = read_generation_info(path)
        text = info.infotext() if info is not None and info.source != "unknown" else ""
    return fields_from_infotext(text, path, mode)


CHECKPOINT_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


def _model_key(name: str) -> str:
    """A checkpoint name compared across tools: no folder, no extension, no case."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    for ext in CHECKPOINT_EXTENSIONS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    return stem.lower()


def installed_checkpoint(name: str, installed: list[str]) -> str | None:
    """The installed checkpoint ``name`` (from any tool) stands for, or None."""
    if name in installed:
        return name
    matches = [n for n in installed if _model_key(n) == _model_key(name)]
    return matches[0] if len(matches) == 1 else None


def prepare_fields(fields: dict | None, ctx) -> dict | None:
    """``fields`` in this app's terms, with ``notices`` saying what could not be kept.

    The sampler (+ schedule type) becomes one of ours; a seed outside -1..``MAX_SEED`` and a
    checkpoint not installed here are dropped (the field keeps its value); style texts are
    taken out of the prompts and the styles selected instead. Runs once per payload
    (``prepared``): taking styles out twice would eat a prompt that merely looks styled.
    """
    if not fields or fields.get("prepared"):
        return fields
    out = dict(fields)
    notices = list(out.get("notices") or [])
    scheduler = out.pop("scheduler", None)
    sampler = out.get("sampler")
    if sampler is not None:
        # both dropdowns: a sampler sent without a schedule type ("Euler a", an old
        # infotext's "DPM++ 2M Karras") sets Schedule type too, never leaves an old one
        match = our_sampler(str(sampler), scheduler)
        out["sampler"] = match.name
        out["scheduler"] = match.scheduler if match.name else None
        if match.notice:
            notices.append(match.notice + ("" if match.name else
                                           "; the Sampling method was left as it was"))
    seed = out.get("seed")
    if seed is not None and not -1 <= seed <= MAX_SEED:
        out["seed"] = None
        notices.append(f"seed {seed} is beyond this app's largest seed ({MAX_SEED}); "
                       "the Seed box was left as it was")
    model = out.get("model")
    if model and ctx is not None:
        found = installed_checkpoint(model, ctx.manager.checkpoint_names())
        out["model"] = found
        if found is None:
            notices.append(f"checkpoint {model!r} is not installed here; the Checkpoint "
                           "box was left as it was")
    if ctx is not None and out.get("prompt") is not None:
        library = ctx.styles.styles()
        named = out.get("styles")
        unknown = [n for n in named or [] if n not in library]
        if unknown:
            notices.append(f"style {', '.join(map(repr, unknown))} is not in your styles "
                           "list; its text stays in the prompt")
        prompt, negative, found_styles = extract_styles(
            out["prompt"], out.get("negative_prompt") or "", library,
            None if named is None else [n for n in named if n in library])
        # the styles selected are the ones found: a style left selected from before would
        # be applied on top of a prompt that already has its text
        out.update(prompt=prompt, negative_prompt=negative, styles=found_styles)
        missed = [n for n in named or [] if n in library and n not in found_styles]
        if missed:
            notices.append(f"the text of style {', '.join(map(repr, missed))} is not in the "
                           "prompt (the style was edited since?); it was not selected")
    out["notices"], out["prepared"] = notices, True
    return out


def fit_fields(fields: dict, comps: dict) -> tuple[dict, list[str]]:
    """``fields`` less the values the target components ``comps`` cannot take (a choice
    not offered, a number off a slider, a size that is not a multiple of 8), and a notice
    for each."""
    out, notices = dict(fields), []
    for name, comp in comps.items():
        value = out.get(name)
        if value is None or name in ("width", "height"):
            continue
        if isinstance(comp, gr.Dropdown) and not comp.allow_custom_value:
            offered = {v for _, v in comp.choices}
            if isinstance(value, (list, tuple)):
                bad = [v for v in value if v not in offered]
                out[name] = [v for v in value if v in offered]
            else:
                bad = [] if value in offered else [value]
                out[name] = value if value in offered else None
            if bad:
                notices.append(f"{comp.label} {', '.join(map(repr, bad))} is not offered "
                               "here; it was skipped")
        elif isinstance(comp, gr.Slider) and isinstance(value, (int, float)):
            if not comp.minimum <= value <= comp.maximum:
                out[name] = None
                notices.append(f"{comp.label} {value:g} is outside {comp.minimum:g}.."
                               f"{comp.maximum:g}; the field was left as it was")
    width, height = out.get("width"), out.get("height")
    if width is not None or height is not None:
        fits = all(v is not None and v % 8 == 0 and (
            not isinstance(comps.get(n), gr.Slider)
            or comps[n].minimum <= v <= comps[n].maximum)
            for n, v in (("width", width), ("height", height)))
        if not fits:
            out["width"] = out["height"] = None
            notices.append(f"size {width}x{height} does not fit here (multiples of 8 within "
                           "the Width and Height sliders); they were left as they were")
    return out, notices


def show_notices(target: str, notices: list[str]) -> None:
    """A warning toast naming what a send skipped."""
    if notices:
        gr.Warning(f"Sent to {target}, except: " + "; ".join(notices) + ".", duration=20)


def result_source(tab: str, gallery: gr.Gallery) -> SendSource:
    """Send buttons under a tab's output gallery: they send the selected image (the first
    until one is picked), read from the gallery at the moment of the click."""
    # the "back" button fills this tab's fields, keeping its input image; in txt2img it
    # would do what "Use parameters in txt2img" does
    send = send_buttons(tab, back_label=f"Use parameters in {tab} (keep its image)",
                        back_visible=tab != "txt2img")
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


def wire_sources(tabs: gr.Tabs, sources: list[SendSource], tab_fields: dict,
                 ctx=None) -> None:
    """Connect every source's buttons to the target tabs.

    ``tab_fields``: mode -> {field name -> component} (names from ``FIELD_NAMES``). A click
    fills the target's fields from the payload (the image too, for image tabs) and opens it;
    "Send parameters back" goes to the tab named by the payload's ``mode``. ``ctx`` (the app
    context: installed checkpoints, styles) lets :func:`prepare_fields` match them; what
    the target cannot take is skipped with a warning toast.
    """
    # the sends are instant; they are queued only so that their warning toasts reach the page
    quick = dict(api_visibility="private", queue=True, concurrency_limit=None)
    for source in sources:
        for target, button in source.buttons.items():
            if target == MADE_IT:
                outputs = [c for mode in tab_fields for c in tab_fields[mode].values()]

                def back(*values, source=source):
                    payload = prepare_fields(source.read(*values), ctx) or {}
                    mode = payload.get("mode") or "txt2img"
                    mode = mode if mode in tab_fields else "txt2img"
                    values, notices = [], list(payload.get("notices") or [])
                    for m, comps in tab_fields.items():
                        fields = {}
                        if m == mode:
                            fields, skipped = fit_fields(payload, comps)
                            notices += skipped
                        fields.pop("image", None)  # parameters only
                        values += field_updates(fields, comps)
                    show_notices(mode, notices)
                    return [*values, gr.Tabs(selected=mode)]

                button.click(back, source.click_inputs(), [*outputs, tabs], **quick)
                continue
            comps = tab_fields.get(target)
            if comps is None:
                continue

            def send(*values, target=target, comps=comps, source=source):
                payload = prepare_fields(source.read(*values), ctx) or {}
                fields, skipped = fit_fields(payload, comps)
                if fields.get("image") and "image" in comps:
                    fields["image"] = image_value(target, fields["image"])
                if target != (fields.get("mode") or target):
                    fields.pop("denoising_strength", None)
                show_notices(target, [*(payload.get("notices") or []), *skipped])
                return [*field_updates(fields, tuple(comps)), gr.Tabs(selected=target)]

            button.click(send, source.click_inputs(), [*comps.values(), tabs], **quick)
