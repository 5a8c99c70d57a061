"""The ControlNet accordion of the txt2img, img2img and inpaint tabs: three units as tabs
("ControlNet Unit 0/1/2"), each with its picture, preprocessor, model, weight, guidance
window, modes, and a Preview of the preprocessed control map.

Its components join the tab's request map (``webui.ui.fieldmap``) under endpoint keywords
``controlnet__<i>__<field>`` (``controlnet__0__model``...); ``collect_control_units`` turns
the enabled units into the request's ``control_units``, checked by the job runner as every
door's are. In img2img and inpaint an empty unit picture means the tab's own image.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
from PIL import Image

from webui.caller import resolve_caller
from webui.controlnet.preprocess import IP_ADAPTER_MODULES
from webui.controlnet.units import (CONTROL_MODES, CONTROL_RESIZE_MODES, MAX_UNITS,
                                    ControlUnit)
from webui.errors import RequestError
from webui.ratelimit import RateLimited
from webui.ui.image_modes import read_upload, readable_uploads

PREFIX = "controlnet__"
#: a unit's endpoint keywords (after ``controlnet__<i>__``), in the order of the map
FIELDS = ("enabled", "image", "module", "model", "weight", "guidance_start", "guidance_end",
          "control_mode", "resize_mode", "pixel_perfect", "processor_res", "threshold_a",
          "threshold_b")
#: tabs whose jobs take units (outpaint does not)
TABS = ("txt2img", "img2img", "inpaint")
GALLERY_CHOICES = 200  # the newest images offered in a unit's "pick from the Gallery"


def key(index: int, field: str) -> str:
    return f"{PREFIX}{index}__{field}"


def model_choices(ctx) -> list[str]:
    """The installed ControlNet and IP-Adapter models by title (read anew each time)."""
    lister = getattr(ctx.manager, "control_models", None)
    return [m.title for m in lister()] if lister is not None else []


def module_choices(ctx) -> list[str]:
    """The preprocessors (depth while a depth model is installed, extensions'), then the
    IP-Adapter modules."""
    pre = getattr(ctx.manager, "preprocessors", None)
    return (pre.names() if pre is not None else ["none"]) + list(IP_ADAPTER_MODULES)


def preview_map(ctx, picture: Image.Image | None, module: str, resolution, threshold_a,
                threshold_b) -> Image.Image:
    """The control map ``module`` makes of ``picture``; ``gr.Error`` in plain words."""
    if picture is None:
        raise gr.Error("Preview needs a picture: upload one in the unit (or, in img2img and "
                       "inpaint, in the tab)", print_exception=False)
    pre = getattr(ctx.manager, "preprocessors", None)
    if pre is None:
        raise gr.Error("no preprocessors are available here", print_exception=False)
    if isinstance(module, str) and module.strip().lower().startswith("ip-adapter"):
        return picture.convert("RGB")  # an IP-Adapter looks at the picture as it is
    try:
        res = int(resolution if resolution not in (None, -1) else 512)
        return pre.run(module or "none", picture, res,
                       -1 if threshold_a is None else float(threshold_a),
                       -1 if threshold_b is None else float(threshold_b))
    except (RequestError, ValueError, TypeError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def gallery_choices(ctx, who) -> list[tuple[str, str]]:
    """(label, id) of the newest Gallery images ``who`` may see."""
    from webui.history.query import GalleryQuery

    page = ctx.store.search(GalleryQuery(per_page=GALLERY_CHOICES), owner=who.owner,
                            is_admin=who.is_admin, with_total=False)
    return [(f"#{r.id} {r.prompt[:60]}", str(r.id)) for r in page.rows]


def gallery_image(ctx, who, choice) -> str | None:
    """The file of Gallery image ``choice`` ("12" or "#12 ..."), if ``who`` may see it;
    ``gr.Error`` when it is gone or someone else's; None for no choice."""
    text = str(choice or "").strip().lstrip("#").split(" ")[0]
    if not text:
        return None
    row = ctx.store.get(int(text), owner=who.owner, is_admin=who.is_admin) \
        if text.isdigit() else None
    if row is None:
        raise gr.Error(f"Gallery image {choice} is gone or not yours", print_exception=False)
    return str(ctx.store.image_path(row))


def controlnet_controls(ctx, tab: str,
                        init_picture: tuple[gr.components.Component, Callable] | None = None
                        ) -> dict:
    """Build the accordion; the request-map entries of its components, in order.
    ``init_picture``: (the tab's image component, value -> PIL image or None), the picture
    a unit without its own uses (img2img, inpaint)."""
    inputs: dict = {}
    models, modules = model_choices(ctx), module_choices(ctx)
    hint = " (empty: the image above)" if init_picture else ""
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet"):
        with gr.Tabs():
            for i in range(MAX_UNITS):
                with gr.Tab(f"ControlNet Unit {i}", elem_id=f"{tab}_controlnet_unit_{i}"):
                    parts = _unit(ctx, tab, i, models, modules, hint, init_picture)
                inputs.update({key(i, f): parts[f] for f in FIELDS})
    return inputs


def _unit(ctx, tab: str, i: int, models, modules, hint, init_picture) -> dict:
    eid = f"{tab}_controlnet_{i}"
    enabled = gr.Checkbox(False, label="Enable", elem_id=f"{eid}_enable")
    with gr.Row():
        image = readable_uploads(gr.Image(label=f"Control image{hint}", type="filepath",
                                          sources=["upload", "clipboard"],
                                          elem_id=f"{eid}_image"))
        shown = gr.Image(label="Preprocessor preview", type="pil", interactive=False,
                         format="png", elem_id=f"{eid}_preview")
    # a picture already made here: the newest Gallery images (the caller's own), listed
    # when the list opens
    from_gallery = gr.Dropdown([], value=None, label="…or pick from the Gallery",
                               allow_custom_value=True, elem_id=f"{eid}_from_gallery")
    with gr.Row():
        # names are checked by the job runner (bare names, any case, too): the endpoint
        # takes what the API takes
        module = gr.Dropdown(modules, value="none", label="Preprocessor",
                             allow_custom_value=True, elem_id=f"{eid}_module")
        model = gr.Dropdown(models, value=models[0] if models else None, label="Model",
                            allow_custom_value=True, elem_id=f"{eid}_model")
        preview = gr.Button("Preview", elem_id=f"{eid}_preview_button", scale=0)
    # the models folder and the extensions are read when a list opens (a model copied in
    # or a depth model added is there without a restart)
    model.focus(lambda: gr.update(choices=model_choices(ctx)), None, model,
                api_visibility="private", queue=False, show_progress="hidden")
    module.focus(lambda: gr.update(choices=module_choices(ctx)), None, module,
                 api_visibility="private", queue=False, show_progress="hidden")

    def list_gallery(request: gr.Request = None):
        return gr.update(choices=gallery_choices(ctx, resolve_caller(ctx, request)))

    def pick(choice, request: gr.Request = None):
        return gallery_image(ctx, resolve_caller(ctx, request), choice)

    from_gallery.focus(list_gallery, None, from_gallery, api_visibility="private",
                       queue=False, show_progress="hidden")
    # callable by clients too (undocumented): a Gallery id -> the unit's picture
    from_gallery.input(pick, from_gallery, image, api_name=f"{eid}_from_gallery",
                       api_visibility="undocumented", queue=False)
    weight = gr.Slider(0, 2, value=1.0, step=0.05, label="Control Weight",
                       elem_id=f"{eid}_weight")
    with gr.Row():
        start = gr.Slider(0, 1, value=0.0, step=0.01, label="Starting Control Step",
                          elem_id=f"{eid}_guidance_start")
        end = gr.Slider(0, 1, value=1.0, step=0.01, label="Ending Control Step",
                        elem_id=f"{eid}_guidance_end")
    control_mode = gr.Radio(CONTROL_MODES, value=CONTROL_MODES[0], label="Control Mode",
                            elem_id=f"{eid}_control_mode")
    resize_mode = gr.Radio(CONTROL_RESIZE_MODES, value="Crop and Resize", label="Resize Mode",
                           elem_id=f"{eid}_resize_mode")
    with gr.Row():
        pixel_perfect = gr.Checkbox(False, label="Pixel Perfect",
                                    elem_id=f"{eid}_pixel_perfect")
        res = gr.Slider(64, 2048, value=512, step=8, label="Preprocessor Resolution",
                        elem_id=f"{eid}_processor_res")
    with gr.Row():
        threshold_a = gr.Slider(-1, 255, value=-1, step=1,
                                label="Threshold A (canny: low; -1 = default)",
                                elem_id=f"{eid}_threshold_a")
        threshold_b = gr.Slider(-1, 255, value=-1, step=1,
                                label="Threshold B (canny: high; -1 = default)",
                                elem_id=f"{eid}_threshold_b")

    init_component, init_reader = init_picture or (None, None)

    def show_preview(image, module, resolution, threshold_a, threshold_b, init_image=None,
                     request: gr.Request = None):
        if getattr(ctx, "rate_limiter", None) is not None:  # a demo: costs a job token
            try:
                ctx.rate_limiter.take(resolve_caller(ctx, request).job_key)
            except RateLimited as exc:
                raise gr.Error(str(exc), print_exception=False) from None
        picture = read_upload(ctx, image, "Control image") if image else None
        if picture is None and init_reader is not None and init_image is not None:
            picture = init_reader(init_image)
        return preview_map(ctx, picture, module, resolution, threshold_a, threshold_b)

    preview_inputs = [image, module, res, threshold_a, threshold_b]
    if init_component is not None:
        preview_inputs.append(init_component)
    # callable by clients too (undocumented: one per unit and tab)
    preview.click(show_preview, preview_inputs, shown, api_name=f"{eid}_preview",
                  api_visibility="undocumented", concurrency_limit=None)
    return {"enabled": enabled, "image": image, "module": module, "model": model,
            "weight": weight, "guidance_start": start, "guidance_end": end,
            "control_mode": control_mode, "resize_mode": resize_mode,
            "pixel_perfect": pixel_perfect, "processor_res": res, "threshold_a": threshold_a,
            "threshold_b": threshold_b}


def collect_control_units(ctx, values: dict) -> dict:
    """Pop the ``controlnet__*`` keywords from an endpoint's ``values``; put the enabled
    units back as ``control_units`` (none: the key is left out)."""
    by_unit: dict[int, dict] = {}
    for name in [k for k in values if k.startswith(PREFIX)]:
        index, _, field = name[len(PREFIX):].partition("__")
        by_unit.setdefault(int(index), {})[field] = values.pop(name)
    units = []
    for index in sorted(by_unit):
        raw = by_unit[index]
        if not raw.get("enabled"):
            continue
        fields = {f: v for f, v in raw.items()
                  if f not in ("enabled", "image") and v is not None}
        image = read_upload(ctx, raw["image"], f"ControlNet unit {index} image") \
            if raw.get("image") else None
        units.append(ControlUnit(image=image, **fields))
    if units:
        values["control_units"] = tuple(units)
    return values
