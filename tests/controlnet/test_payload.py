"""sd-webui-controlnet's unit objects (``alwayson_scripts.controlnet.args``) parsed into
``ControlUnit``s, and ``check_units`` on what they hold: no server, no model."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from webui.api.common import ApiError
from webui.api.controlnet_payload import split_controlnet
from webui.controlnet.units import ControlUnit, check_units
from webui.errors import RequestError

LIMIT = 1024 * 1024


def b64(img: Image.Image, data_url: bool = False) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    text = base64.b64encode(buf.getvalue()).decode()
    return f"data:image/png;base64,{text}" if data_url else text


RED = Image.new("RGB", (32, 24), (255, 0, 0))
MASK = Image.new("L", (32, 24), 255)


def units(*args, key="controlnet"):
    return split_controlnet({key: {"args": list(args)}, "Other script": {"args": [1]}})


def test_a_full_unit_keeps_every_field_and_other_scripts_stay():
    out = units({"enabled": True, "module": "canny", "model": "tiny-controlnet [abc]",
                 "weight": 0.5, "image": b64(RED), "resize_mode": 2, "processor_res": 256,
                 "threshold_a": 50, "threshold_b": 150, "guidance_start": 0.1,
                 "guidance_end": 0.9, "pixel_perfect": True, "control_mode": 2,
                 "low_vram": True, "some_future_field": [1, 2]})
    (unit,) = out.units
    assert (unit.module, unit.model, unit.weight, unit.processor_res) == (
        "canny", "tiny-controlnet [abc]", 0.5, 256)
    assert (unit.threshold_a, unit.threshold_b, unit.guidance_start, unit.guidance_end) == (
        50, 150, 0.1, 0.9)
    assert unit.image.size == (32, 24) and unit.image.getpixel((0, 0))[:3] == (255, 0, 0)
    assert out.others == {"Other script": {"args": [1]}}  # never reaches the host as unknown
    (checked,) = check_units(out.units, "txt2img", LIMIT)
    assert checked.control_mode == "ControlNet is more important"
    assert checked.resize_mode == "Resize and Fill"
    assert checked.pixel_perfect is True


@pytest.mark.parametrize("key", ["ControlNet", "CONTROLNET", "controlnet"])
def test_key_in_any_case(key):
    out = units({"model": "m", "image": b64(RED)}, key=key)
    assert len(out.units) == 1 and out.others == {"Other script": {"args": [1]}}


def test_disabled_units_and_placeholders_are_dropped():
    out = units({"enabled": False, "model": "m", "image": b64(RED)},
                {"model": "None", "module": "none"},  # the UI's empty unit, no enabled flag
                None,
                {"model": "m", "image": b64(RED)})  # no 'enabled': counts as enabled
    assert [u.model for u in out.units] == ["m"]


def test_image_forms_data_url_dict_and_pair():
    data_url = units({"model": "m", "image": b64(RED, data_url=True)}).units[0]
    as_dict = units({"model": "m", "image": {"image": b64(RED), "mask": b64(MASK)}}).units[0]
    as_pair = units({"model": "m", "image": [b64(RED), b64(MASK)]}).units[0]
    mask_field = units({"model": "m", "image": b64(RED), "mask": b64(MASK)}).units[0]
    assert data_url.image.size == (32, 24) and data_url.mask is None
    for unit in (as_dict, as_pair, mask_field):
        assert unit.image.size == (32, 24) and unit.mask is not None


def test_legacy_aliases():
    (unit,) = units({"model": "m", "input_image": b64(RED), "guidance": 0.6}).units
    assert unit.image is not None and unit.guidance_end == 0.6
    with pytest.raises(RequestError, match="both 'input_image' and 'image'"):
        units({"model": "m", "input_image": b64(RED), "image": b64(RED)})


def test_save_detected_map_is_remembered_per_unit():
    out = units({"model": "a", "image": b64(RED)},
                {"model": "b", "image": b64(RED), "save_detected_map": False})
    assert out.return_maps == (True, False)


@pytest.mark.parametrize("body, message", [
    ({"controlnet": {"args": {"model": "m"}}}, "must be a list"),
    ({"controlnet": {"args": ["canny"]}}, r"args\[0\] must be a ControlNet unit object"),
    ({"controlnet": {"args": [{"model": "m", "image": 12}]}}, "must be a base64 picture"),
    ({"controlnet": {"args": [{"model": "m", "enabled": "yes"}]}}, "enabled must be true"),
    ({"controlnet": {"args": [{"model": 5, "image": b64(RED)}]}}, "model must be a model"),
    ({"controlnet": {"args": []}, "ControlNet": {"args": []}}, "twice"),
])
def test_malformed_payloads_name_the_problem(body, message):
    with pytest.raises(RequestError, match=message):
        split_controlnet(body)


def test_bad_base64_names_the_field():
    with pytest.raises(ApiError) as err:
        units({"model": "m", "image": "not base64 at all!"})
    assert err.value.status == 400
    assert "alwayson_scripts.controlnet.args[0].image is not valid base64" in err.value.message


def test_no_controlnet_entry_leaves_everything():
    out = split_controlnet({"Other script": {"args": []}})
    assert out.units == () and out.others == {"Other script": {"args": []}}


# -- check_units: the values, whatever door they came from ----------------------------------

def unit(**kw):
    base = dict(image=RED, module="canny", model="m")
    base.update(kw)
    return ControlUnit(**base)


@pytest.mark.parametrize("kw, mode, message", [
    (dict(weight="abc"), "txt2img", "ControlNet unit 0: weight must be a number, got 'abc'"),
    (dict(weight=3), "txt2img", "weight must be between 0 and 2"),
    (dict(guidance_start=0.8, guidance_end=0.2), "txt2img",
     r"guidance start \(0.8\) is after guidance end \(0.2\)"),
    (dict(image=None), "txt2img", "needs an image"),
    (dict(model="None"), "txt2img", "model must name a ControlNet"),
    (dict(control_mode=7), "txt2img", "unknown control mode 7"),
    (dict(resize_mode="Stretch"), "txt2img", "unknown resize mode 'Stretch'"),
    (dict(processor_res=10), "txt2img", "processor resolution must be"),
    (dict(pixel_perfect="yes"), "txt2img", "pixel perfect must be true or false"),
])
def test_check_units_refuses_bad_values(kw, mode, message):
    with pytest.raises(RequestError, match=message):
        check_units([unit(**kw)], mode, LIMIT)


def test_check_units_at_most_three_and_image_optional_in_img2img():
    with pytest.raises(RequestError, match="at most 3 ControlNet units per job, got 4"):
        check_units([unit()] * 4, "txt2img", LIMIT)
    (checked,) = check_units([unit(image=None, control_mode="1", resize_mode=0)], "img2img",
                             LIMIT)
    assert checked.image is None
    assert checked.control_mode == "My prompt is more important"
    assert checked.resize_mode == "Just Resize"
