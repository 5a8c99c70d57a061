"""sd-webui-controlnet's unit objects in an A1111 body -> ``ControlUnit``\\s.

Clients send ``"alwayson_scripts": {"controlnet": {"args": [unit, ...]}}`` (the key in any
case) to ``/sdapi/v1/txt2img`` and ``/img2img``. ``split_controlnet`` takes that entry out of
``alwayson_scripts`` (so it never reaches the extension host as an unknown script) and turns
each unit object into a ``ControlUnit``; the values themselves are checked later, with every
other door's, by ``webui.request.validate`` (``check_units`` and the installed names).

As the extension does: ``enabled: false`` units are dropped; ``input_image`` and ``guidance``
are the old names of ``image`` and ``guidance_end`` (``mask_image`` of ``mask``); ``image``
is base64 (raw or a data URL), ``{"image": ..., "mask": ...}`` or ``[image, mask]``;
``low_vram`` and the fields this app does not use are ignored. A unit sent without
``enabled`` counts as enabled (older versions of the extension defaulted to it), unless it
names no model and no image (a placeholder).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webui.api.common import decode_image
from webui.controlnet.units import ControlUnit
from webui.errors import RequestError

#: the unit fields taken as they are (checked by ``check_units``)
PLAIN_FIELDS = ("module", "model", "weight", "guidance_start", "guidance_end", "control_mode",
                "resize_mode", "processor_res", "threshold_a", "threshold_b", "pixel_perfect")
#: the extension's old field names -> today's
ALIASES = {"input_image": "image", "guidance": "guidance_end", "mask_image": "mask"}


@dataclass
class ControlNetArgs:
    """What an A1111 body's ControlNet entry holds: the enabled units, and for each whether
    its detected map goes back with the images (the extension's ``save_detected_map``)."""

    units: tuple[ControlUnit, ...] = ()
    return_maps: tuple[bool, ...] = ()
    others: dict = field(default_factory=dict)  # the rest of ``alwayson_scripts``


def is_controlnet_key(key) -> bool:
    return isinstance(key, str) and key.strip().lower() == "controlnet"


def split_controlnet(alwayson_scripts) -> ControlNetArgs:
    """Take the ControlNet entry out of ``alwayson_scripts``; ``RequestError``/``ApiError``
    (4xx) naming the unit and field for a malformed one."""
    if not isinstance(alwayson_scripts, dict):
        return ControlNetArgs(others=alwayson_scripts or {})
    others = {k: v for k, v in alwayson_scripts.items() if not is_controlnet_key(k)}
    entries = [v for k, v in alwayson_scripts.items() if is_controlnet_key(k)]
    if not entries:
        return ControlNetArgs(others=others)
    if len(entries) > 1:
        raise RequestError("alwayson_scripts names ControlNet twice (in two cases): send one")
    args = entries[0].get("args") if isinstance(entries[0], dict) else entries[0]
    if args is None:
        args = []
    if not isinstance(args, list):
        raise RequestError("alwayson_scripts.controlnet.args must be a list of ControlNet "
                           "unit objects, e.g. [{\"module\": \"canny\", \"model\": \"...\", "
                           "\"image\": \"<base64>\"}]")
    units, maps = [], []
    for i, raw in enumerate(args):
        if raw is None:
            continue
        parsed = parse_unit(raw, f"alwayson_scripts.controlnet.args[{i}]")
        if parsed is not None:
            units.append(parsed[0])
            maps.append(parsed[1])
    return ControlNetArgs(tuple(units), tuple(maps), others)


def parse_unit(raw, where: str) -> tuple[ControlUnit, bool] | None:
    """One unit object -> (unit, return its map), or None when it is disabled."""
    if not isinstance(raw, dict):
        raise RequestError(f"{where} must be a ControlNet unit object ({{\"module\": ..., "
                           f"\"model\": ..., \"image\": ...}}), got {type(raw).__name__}")
    values = dict(raw)
    for old, new in ALIASES.items():
        if old in values:
            if values.get(new) is not None and values[old] is not None:
                raise RequestError(f"{where}: both {old!r} and {new!r} given (the first is "
                                   f"the old name of the second): send one")
            if values.get(new) is None:
                values[new] = values[old]
    enabled = values.get("enabled")
    if "enabled" in values and enabled is not None:
        if not isinstance(enabled, bool) and enabled not in (0, 1):
            raise RequestError(f"{where}.enabled must be true or false, got {enabled!r}")
        if not enabled:
            return None
    elif _placeholder(values):
        return None
    image, mask = _images(values.get("image"), values.get("mask"), where)
    fields = {k: values[k] for k in PLAIN_FIELDS if values.get(k) is not None}
    if "model" in fields and not isinstance(fields["model"], str):
        raise RequestError(f"{where}.model must be a model's name, got {fields['model']!r}")
    keep = values.get("save_detected_map", True)
    return ControlUnit(image=image, mask=mask, **fields), keep is not False


def _placeholder(values: dict) -> bool:
    model = values.get("model")
    no_model = model is None or (isinstance(model, str) and model.strip().lower() in
                                 ("", "none"))
    return no_model and values.get("image") in (None, "")


def _images(image, mask, where: str):
    """The unit's picture and optional mask from the forms the extension takes."""
    image, mask = (None if v == "" else v for v in (image, mask))  # "": none sent
    if isinstance(image, (list, tuple)):
        if len(image) == 1 and isinstance(image[0], dict):
            image = image[0]  # [{"image", "mask"}]: one input (IP-Adapter's several: one)
        elif len(image) == 2 and not isinstance(image[0], dict):
            image, mask = image[0], (mask if image[1] is None else image[1])
        else:
            raise RequestError(f"{where}.image must be base64, {{\"image\", \"mask\"}} or "
                               f"[image, mask]; several images per unit are not supported")
    if isinstance(image, dict):
        if "image" not in image:
            raise RequestError(f"{where}.image: an object must hold \"image\" (and may hold "
                               "\"mask\")")
        image, mask = image.get("image"), image.get("mask") or mask
    picture = None
    if image is not None:
        if not isinstance(image, str):
            raise RequestError(f"{where}.image must be a base64 picture, got "
                               f"{type(image).__name__}")
        picture = decode_image(image, f"{where}.image")
    mask_picture = None
    if mask is not None:
        if not isinstance(mask, str):
            raise RequestError(f"{where}.mask must be a base64 picture, got "
                               f"{type(mask).__name__}")
        mask_picture = decode_image(mask, f"{where}.mask")
    return picture, mask_picture
