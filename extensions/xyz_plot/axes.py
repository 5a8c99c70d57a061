"""The axis types of the X/Y/Z plot: A1111's list (so its indices mean what they mean in
A1111) and what each does to a ``GenerationRequest``.

A1111 sends an axis type as an index into the list its txt2img or img2img tab shows (the tabs
list slightly different axes: *Hires steps*, *Hires sampler* and *Hires upscaler* only in
txt2img; *Image CFG Scale* and *Cond. Image Mask Weight* only in img2img). ``A1111_AXES``
holds that list in A1111 1.10's order; our inpaint and outpaint tabs are A1111's img2img.
Three axes of our own follow A1111's (so they never shift its indices): *Width*, *Height*
and *LoRA weight*. Axes A1111 has but this app has no request field for (*Var. seed*,
*Eta*, *Sigma churn*, ...) keep their place in the list and are refused with a plain message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from webui.choices import SAMPLERS, SCHEDULE_TYPES, HR_UPSCALERS, schedule_label, \
    split_sampler_name
from webui.errors import RequestError

from .values import to_int

#: (label, the tab family that lists it: None = both) in A1111's order
A1111_AXES: tuple[tuple[str, str | None], ...] = (
    ("Nothing", None), ("Seed", None), ("Var. seed", None), ("Var. strength", None),
    ("Steps", None), ("Hires steps", "txt2img"), ("CFG Scale", None),
    ("Image CFG Scale", "img2img"), ("Prompt S/R", None), ("Prompt order", None),
    ("Sampler", "txt2img"), ("Hires sampler", "txt2img"), ("Sampler", "img2img"),
    ("Checkpoint name", None), ("Negative Guidance minimum sigma", None),
    ("Sigma Churn", None), ("Sigma min", None), ("Sigma max", None), ("Sigma noise", None),
    ("Schedule type", None), ("Schedule min sigma", None), ("Schedule max sigma", None),
    ("Schedule rho", None), ("Skip Early CFG", None), ("Beta schedule alpha", None),
    ("Beta schedule beta", None), ("Eta", None), ("Clip skip", None), ("Denoising", None),
    ("Initial noise multiplier", None), ("Extra noise", None), ("Hires upscaler", "txt2img"),
    ("Cond. Image Mask Weight", "img2img"), ("VAE", None), ("Styles", None),
    ("UniPC Order", None), ("Face restore", None), ("Token merging ratio", None),
    ("Token merging ratio high-res", None), ("Always discard next-to-last sigma", None),
    ("SGM noise multiplier", None), ("Refiner checkpoint", None), ("Refiner switch at", None),
    ("RNG source", None), ("FP8 mode", None), ("Size", None),
)
#: ours, after A1111's list in both tab families
EXTRA_AXES: tuple[str, ...] = ("Width", "Height", "LoRA weight")


def family(mode: str) -> str:
    """A1111's tab for one of our modes: txt2img, or img2img (img2img, inpaint, outpaint)."""
    return "txt2img" if mode == "txt2img" else "img2img"


def axis_labels(mode: str) -> list[str]:
    """Every axis label in the order A1111's ``mode`` tab lists them (the index an A1111
    client sends), then ours."""
    fam = family(mode)
    return [label for label, only in A1111_AXES if only in (None, fam)] + list(EXTRA_AXES)


# -- what an axis does to a cell ---------------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One axis type.

    kind: how its values are read ("int", "float", "str", "permutations").
    apply(cell, value, values, req): sets the cell's request fields in ``cell`` (a dict of
    ``dataclasses.replace`` arguments holding at least prompt, negative_prompt and styles).
    check(values, req): refuses bad values before anything runs (``RequestError``).
    cost: how dear changing it is (a checkpoint load); the dearest axis is iterated outermost.
    label: "add" (``Steps: 20``), "value" (the value alone), "path" (a file's base name),
    "join" (a list joined by commas) or "nothing".
    choices: what a dropdown of values would list (for the UI's hints); None: free text.
    """

    name: str
    kind: str
    apply: Callable | None  # None: A1111 has it, this app cannot vary it
    check: Callable | None = None
    cost: float = 0.0
    label: str = "add"
    choices: tuple[str, ...] | None = None
    hint: str = ""

    @property
    def supported(self) -> bool:
        return self.apply is not None

    def format(self, value) -> str:
        """The value's label on the grid."""
        if self.label == "nothing" or value is None:
            return ""
        if self.label == "join":
            return ", ".join(value)
        if self.label == "path":
            return os.path.basename(str(value)) if value else "None"
        text = format_number(value)
        return text if self.label == "value" else f"{self.name}: {text}"


def format_number(value) -> str:
    if isinstance(value, float):
        return format(round(value, 8), ".10g")
    return str(value)


def _field(name: str):
    def apply(cell, value, values, req):
        cell[name] = value
    return apply


def _range_check(low: float | None, high: float | None):
    def check(values, req):
        for v in values:
            if (low is not None and v < low) or (high is not None and v > high):
                if high is None:
                    raise RequestError(f"{format_number(v)} is below {format_number(low)}")
                raise RequestError(f"{format_number(v)} is not between {format_number(low)} "
                                   f"and {format_number(high)}")
    return check


def _sampler_cell(value: str, scheduler: str) -> dict:
    """A sampler name (maybe with its schedule, "DPM++ 2M Karras") -> request fields: a
    named schedule wins; a plain name keeps the job's schedule type where the sampler has
    it, else runs with its Automatic one."""
    from webui.choices import SAMPLER_SCHEDULES

    split = split_sampler_name(value)
    if split is None:  # an extension's sampler (checked by the job): its own schedule
        return {"sampler": value, "scheduler": "Automatic"}
    sampler, named = split
    if named != "Automatic":
        return {"sampler": value, "scheduler": "Automatic"}
    label = schedule_label(scheduler) or "Automatic"
    return {"sampler": sampler,
            "scheduler": scheduler if label in SAMPLER_SCHEDULES[sampler] else "Automatic"}


def _apply_sampler(cell, value, values, req):
    cell.update(_sampler_cell(value, cell.get("scheduler", req.scheduler)))


def _check_sampler(values, req):
    for v in values:
        if split_sampler_name(v) is None:
            raise RequestError(f"unknown sampler {v!r}; choose one of: {', '.join(SAMPLERS)} "
                               "(a schedule type may follow the name, as in 'DPM++ 2M Karras')")


def _check_schedule(values, req):
    for v in values:
        if schedule_label(v) is None:
            raise RequestError(f"unknown schedule type {v!r}; choose one of: "
                               f"{', '.join(SCHEDULE_TYPES.values())}")


def _apply_schedule(cell, value, values, req):
    cell["scheduler"] = schedule_label(value)


def model_name(value: str) -> str:
    """A checkpoint as A1111 clients name it: ``name.safetensors [abcdef1234]`` (a title
    with its short hash) -> ``name.safetensors``; the registry finds a checkpoint by its
    name, file name, stem or path."""
    return re.sub(r"\s*\[[0-9a-fA-F]{8,10}\]\s*$", "", value.strip())


def _none_name(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none") else model_name(value)


def _apply_checkpoint(cell, value, values, req):
    cell["model"] = model_name(value)


def _apply_refiner(cell, value, values, req):
    cell["refiner"] = _none_name(value)


def _apply_vae(cell, value, values, req):
    cell["vae"] = None if value.strip().lower() in ("", "none", "auto", "automatic") \
        else value.strip()


def _apply_denoising(cell, value, values, req):
    # A1111: in txt2img the Denoising axis is the hires fix's denoising strength
    if req.mode == "txt2img":
        cell["hr_denoising_strength"] = value
    else:
        cell["denoising_strength"] = value


def _check_prompt_sr(values, req):
    first = values[0]
    if first not in req.prompt and first not in (req.negative_prompt or ""):
        raise RequestError(f"{first!r} (the first value) is not in the prompt or the negative "
                           "prompt: Prompt S/R replaces the first value with each of the others")


def _apply_prompt_sr(cell, value, values, req):
    cell["prompt"] = cell["prompt"].replace(values[0], value)
    cell["negative_prompt"] = (cell["negative_prompt"] or "").replace(values[0], value)


def _check_prompt_order(values, req):
    for token in values[0]:
        if token not in req.prompt:
            raise RequestError(f"{token!r} is not in the prompt")


def _apply_prompt_order(cell, value, values, req):
    """A1111's Prompt order: the tokens, where they stand in the prompt, put in this order."""
    prompt = cell["prompt"]
    found = sorted((prompt.find(token), token) for token in value)
    parts = []
    for _, token in found:
        n = prompt.find(token)
        parts.append(prompt[:n])
        prompt = prompt[n + len(token):]
    cell["prompt"] = "".join(part + value[i] for i, part in enumerate(parts)) + prompt


def _apply_styles(cell, value, values, req):
    names = [s.strip() for s in value.split(",") if s.strip()]
    cell["styles"] = tuple(cell["styles"]) + tuple(names)


def parse_size(value: str) -> tuple[int, int]:
    """``"832x1216"`` (also ``832 x 1216``, ``832X1216``, ``832×1216``) -> (832, 1216)."""
    parts = re.split(r"\s*[xX×]\s*", value.strip())
    if len(parts) != 2:
        raise RequestError(f"{value!r} is not a size; write it as WIDTHxHEIGHT, e.g. 832x1216")
    return to_int(parts[0]), to_int(parts[1])


def _check_size(values, req):
    for v in values:
        parse_size(v)


def _apply_size(cell, value, values, req):
    cell["width"], cell["height"] = parse_size(value)


_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?((?::[^>]*)?)>", re.IGNORECASE)


def _check_lora(values, req):
    if not (_LORA_TAG.search(req.prompt) or _LORA_TAG.search(req.negative_prompt or "")):
        raise RequestError("the prompt has no <lora:name:weight> tag whose weight to change")


def _apply_lora(cell, value, values, req):
    weight = format_number(value)

    def sub(m):
        return f"<lora:{m.group(1)}:{weight}{m.group(3)}>"

    cell["prompt"] = _LORA_TAG.sub(sub, cell["prompt"])
    cell["negative_prompt"] = _LORA_TAG.sub(sub, cell["negative_prompt"] or "")


def _no_hires_in_img2img(values, req):
    if req.mode != "txt2img":
        raise RequestError("the hires fix is a txt2img setting")


def _both(*checks):
    def check(values, req):
        for c in checks:
            c(values, req)
    return check


_SCHEDULES = tuple(SCHEDULE_TYPES.values())

AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("Nothing", "str", lambda cell, value, values, req: None, label="nothing"),
    Axis("Seed", "int", _field("seed"), _range_check(-1, None),
         hint="seeds: 1, 2, 3 or 100-110; -1 draws one"),
    Axis("Steps", "int", _field("steps"), _range_check(1, None), hint="e.g. 10-30 (+10)"),
    Axis("Hires steps", "int", _field("hr_steps"),
         _both(_range_check(0, None), _no_hires_in_img2img), hint="e.g. 0, 10, 20"),
    Axis("CFG Scale", "float", _field("cfg_scale"), _range_check(0, None),
         hint="e.g. 3, 5, 7 or 3-9 (+2)"),
    Axis("Prompt S/R", "str", _apply_prompt_sr, _check_prompt_sr, label="value",
         hint="the first value is searched in the prompt and replaced by each"),
    Axis("Prompt order", "permutations", _apply_prompt_order, _check_prompt_order,
         label="join", hint="words of the prompt, every order is tried"),
    Axis("Sampler", "str", _apply_sampler, _check_sampler, label="value",
         choices=tuple(SAMPLERS)),
    Axis("Checkpoint name", "str", _apply_checkpoint, cost=1.0, label="path",
         hint="checkpoint names, as in the Checkpoint list"),
    Axis("Schedule type", "str", _apply_schedule, _check_schedule, choices=_SCHEDULES),
    Axis("Clip skip", "int", _field("clip_skip"), _range_check(1, None), hint="e.g. 1-3"),
    Axis("Denoising", "float", _apply_denoising, _range_check(0, 1),
         hint="e.g. 0.3-0.9 (+0.2) (txt2img: the hires fix's)"),
    Axis("Hires upscaler", "str", _field("hr_upscaler"), _no_hires_in_img2img,
         choices=tuple(HR_UPSCALERS)),
    Axis("VAE", "str", _apply_vae, cost=0.7, hint="VAE names; Automatic = the checkpoint's"),
    Axis("Styles", "str", _apply_styles, hint="style names (added to the job's styles)"),
    Axis("Refiner checkpoint", "str", _apply_refiner, cost=1.0, label="path",
         hint="refiner names; None = no refiner"),
    Axis("Refiner switch at", "float", _field("refiner_switch_at"), _range_check(0, 1),
         hint="e.g. 0.6-0.9 (+0.1)"),
    Axis("Size", "str", _apply_size, _check_size, hint="e.g. 1024x1024, 832x1216"),
    Axis("Width", "int", _field("width"), _range_check(8, None), hint="e.g. 768-1280 (+256)"),
    Axis("Height", "int", _field("height"), _range_check(8, None),
         hint="e.g. 768-1280 (+256)"),
    Axis("LoRA weight", "float", _apply_lora, _check_lora,
         hint="weights for the prompt's <lora:name:w> tags, e.g. 0-1 [5]"),
)}
for _label, _ in A1111_AXES:  # the ones this app has no field for
    AXES.setdefault(_label, Axis(_label, "str", None))

#: other names an axis type may be given by (any case)
ALIASES = {"cfg": "CFG Scale", "cfg scale": "CFG Scale", "denoising strength": "Denoising",
           "size (wxh)": "Size", "checkpoint": "Checkpoint name", "model": "Checkpoint name",
           "lora": "LoRA weight", "refiner": "Refiner checkpoint",
           "prompt s/r": "Prompt S/R", "prompt sr": "Prompt S/R", "none": "Nothing",
           "schedule": "Schedule type", "scheduler": "Schedule type"}
_BY_LOWER = {**{k.lower(): k for k in AXES}, **ALIASES}


def all_labels() -> list[str]:
    """Every axis label of either tab family (for validating a name)."""
    return list(dict.fromkeys(axis_labels("txt2img") + axis_labels("img2img")))


def supported_labels(mode: str) -> list[str]:
    """The labels of ``mode``'s tab that this app can vary (the UI's dropdown)."""
    fam = family(mode)
    out = [label for label in axis_labels(mode) if AXES[label].supported]
    if fam != "txt2img":
        out = [label for label in out if label not in ("Hires steps", "Hires upscaler")]
    return out


def axis_by_name(name: str) -> Axis | None:
    key = _BY_LOWER.get(name.strip().lower())
    return AXES.get(key) if key else None


def resolve_axis(kind, mode: str) -> Axis:
    """The axis an A1111 client or our UI names: an index into ``axis_labels(mode)`` (an int
    or a string of digits) or a label (any case). ``RequestError`` when it is none or this
    app cannot vary it."""
    labels = axis_labels(mode)
    if isinstance(kind, bool):
        raise RequestError(f"axis type must be an index or a name, got {kind!r}")
    if isinstance(kind, str) and kind.strip().isdigit():
        kind = int(kind.strip())
    if isinstance(kind, int):
        if not 0 <= kind < len(labels):
            raise RequestError(f"axis type index {kind} is out of range: {family(mode)} has "
                               f"{len(labels)} axis types (0-{len(labels) - 1})")
        axis = AXES[labels[kind]]
    else:
        axis = axis_by_name(str(kind or "Nothing"))
        if axis is None:
            raise RequestError(f"unknown axis type {kind!r}; choose one of: "
                               f"{', '.join(supported_labels(mode))}")
    if not axis.supported:
        raise RequestError(f"{axis.name!r} cannot be varied here; choose one of: "
                           f"{', '.join(supported_labels(mode))}")
    return axis
