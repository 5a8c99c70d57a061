"""Generation tabs build their requests from one name -> component map (webui.ui.fieldmap):
every key names a GenerationRequest field (or a documented alias), the endpoints take exactly
those keywords, and each value lands in the field of its name."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import pytest

from webui.request import GenerationRequest
from webui.ui.fieldmap import (ALIASES, REQUEST_FIELDS, TabParts, request_field,
                               request_from, request_handler)
from webui.ui.layout import MODE_TABS
from webui.ui.controlnet_ui import FIELDS as CONTROLNET_FIELDS, PREFIX as CONTROLNET_PREFIX
from webui.ui.scripts import PREFIX as SCRIPT_PREFIX
from webui.ui.sendto import FIELD_FALLBACKS, FIELD_NAMES

README = Path(__file__).resolve().parents[2] / "README.md"

COMMON = ["width", "height", "steps", "cfg_scale", "seed", "sampler", "batch_size",
          "batch_count"]
MODELS = ["refiner", "refiner_switch_at", "vae", "scheduler", "clip_skip"]
#: the documented keywords of each endpoint, in order (positional callers rely on it)
ENDPOINT_KEYWORDS = {
    "txt2img": ["prompt", "negative_prompt", *COMMON, "model", "styles", "enable_hr",
                "hr_scale", "hr_upscaler", "hr_steps", "hr_denoising_strength", *MODELS],
    "img2img": ["prompt", "image", "negative_prompt", *COMMON, "denoising_strength",
                "resize_mode", "styles", "model", *MODELS],
    "inpaint": ["prompt", "image", "mask", "negative_prompt", *COMMON, "denoising_strength",
                "mask_blur", "inpaint_area", "inpaint_padding", "masked_content",
                "invert_mask", "resize_mode", "styles", "model", *MODELS],
    "outpaint": ["prompt", "image", "negative_prompt", "left", "right", "up", "down", *COMMON,
                 "denoising_strength", "mask_blur", "fill", "styles", "model", *MODELS],
}


@pytest.fixture
def tabs(ctx):
    """(Blocks, mode -> TabParts) with the four generation tabs built."""
    with gr.Blocks() as demo:
        built = {}
        for mode, build in MODE_TABS.items():
            with gr.Tab(mode):
                built[mode] = build(ctx)
    return demo, built


def test_every_map_key_names_a_request_field(tabs, ctx):
    _, built = tabs
    for mode, parts in built.items():
        assert isinstance(parts, TabParts)
        # the Script accordion's keywords come last: "script", then one per argument of
        # each script (collected into script_args), then the ControlNet accordion's
        # (controlnet__<unit>__<field>, collected into control_units)
        keys = list(parts.inputs)
        controlnet = [k for k in keys if k.startswith(CONTROLNET_PREFIX)]
        assert controlnet == ([f"{CONTROLNET_PREFIX}{i}__{f}" for i in range(3)
                               for f in CONTROLNET_FIELDS] if mode != "outpaint" else [])
        assert keys[len(keys) - len(controlnet):] == controlnet
        keys = keys[:len(keys) - len(controlnet)]
        documented, scripted = keys[:keys.index("script")], keys[keys.index("script") + 1:]
        unknown = [n for n in documented if request_field(n) not in REQUEST_FIELDS]
        assert not unknown, f"{mode}: {unknown} name no GenerationRequest field"
        assert "mode" not in parts.inputs and "extra" not in parts.inputs
        assert documented == ENDPOINT_KEYWORDS[mode]
        xyz = ctx.extensions.script("x/y/z plot")
        assert scripted == [f"{SCRIPT_PREFIX}x_y_z_plot__{f}" for f in xyz.args.model_fields]


def test_aliases_are_documented_and_point_at_fields():
    table = README.read_text(encoding="utf-8").split("### Gradio endpoints", 1)[1]
    table = table.split("\n## ", 1)[0]
    for alias, field in ALIASES.items():
        assert field in REQUEST_FIELDS and alias not in REQUEST_FIELDS
        assert re.search(rf"`{alias}`", table), f"alias {alias!r} is not in the README"


def test_send_fields_come_from_the_request_map(tabs):
    _, built = tabs
    for mode, parts in built.items():
        components = {id(c): n for n, c in parts.inputs.items()}
        for name, comp in parts.fields.items():
            assert name in FIELD_NAMES
            source = components[id(comp)]
            assert source in (name, FIELD_FALLBACKS.get(name)), (mode, name, source)
    assert built["txt2img"].fields["denoising_strength"] is \
        built["txt2img"].inputs["hr_denoising_strength"]
    assert built["inpaint"].fields["image"] is built["inpaint"].inputs["image"]
    assert "image" not in built["txt2img"].fields


def test_endpoints_take_the_map_keywords(tabs):
    demo, built = tabs
    api = demo.get_api_info()["named_endpoints"]
    for mode, parts in built.items():
        params = api[f"/{mode}"]["parameters"]
        assert [p["parameter_name"] for p in params] == list(parts.inputs)
        required = [p["parameter_name"] for p in params if not p["parameter_has_default"]]
        assert required == (["prompt"] if mode == "txt2img" else ["prompt", "image"])
    assert api["/txt2img"]["description"].startswith("Generate images from a text prompt")


def run_capture(box):
    def run(ctx, req, request, progress):
        box.append(req)
        yield "done"
    return run


def test_each_value_lands_in_the_field_of_its_name(ctx, tabs):
    """Positional values (as Gradio passes them) end up in the request attribute their
    keyword names: a map out of order or a renamed field cannot go unnoticed."""
    _, built = tabs
    inputs = built["txt2img"].inputs
    values = {"prompt": "a cat", "negative_prompt": "blurry", "width": 512, "height": 768,
              "steps": 7, "cfg_scale": 4.5, "seed": 42, "sampler": "DDIM", "batch_size": 2,
              "batch_count": 3, "model": "tiny-sdxl-a", "styles": ["s1"], "enable_hr": True,
              "hr_scale": 1.5, "hr_upscaler": "Lanczos", "hr_steps": 5,
              "hr_denoising_strength": 0.3, "refiner": "r", "refiner_switch_at": 0.6,
              "vae": "v", "scheduler": "Karras", "clip_skip": 2}
    assert list(values) == list(inputs)[:len(values)]
    seen = []
    handler = request_handler(ctx, "txt2img", inputs, run_capture(seen), "doc")
    # the documented ones by position, the Script accordion's by keyword
    assert list(handler(*values.values(), script="X/Y/Z plot",
                        script__x_y_z_plot__x_type="Steps",
                        script__x_y_z_plot__x_values="1,2",
                        request=None, progress=None)) == ["done"]
    (req,) = seen
    assert req.mode == "txt2img"
    for name, value in values.items():
        assert getattr(req, name) == value, name
    assert req.script == "X/Y/Z plot"
    assert req.script_args == {"x_type": "Steps", "x_values": "1,2"}


def test_values_are_cleaned_and_aliases_applied(ctx, tabs):
    _, built = tabs
    seen = []
    inputs = built["outpaint"].inputs
    handler = request_handler(ctx, "outpaint", inputs, run_capture(seen), "doc",
                              adapt=lambda v: {**v, "fill": "latent noise"})
    list(handler(prompt="p", image=None, left=8, right=16, up=24, down=32,
                 negative_prompt=None, model="", refiner="None", vae="", styles=None))
    (req,) = seen
    assert (req.outpaint_left, req.outpaint_right, req.outpaint_up,
            req.outpaint_down) == (8, 16, 24, 32)
    assert req.masked_content == "latent noise" and req.mode == "outpaint"
    assert req.negative_prompt == "" and req.model is None and req.refiner is None
    assert req.vae is None and req.styles == [] and req.init_image is None


def test_outpaint_fill_names_a_choice(ctx, tabs):
    demo, built = tabs
    from webui.ui.outpaint import fill_to_content

    assert fill_to_content({"fill": "noise"})["fill"] == "latent noise"
    with pytest.raises(gr.Error, match="unknown fill"):
        fill_to_content({"fill": "lava"})


def test_a_name_that_is_no_field_fails_loudly(ctx):
    with pytest.raises(TypeError, match="hires_steps"):
        request_from(ctx, "txt2img", {"prompt": "p", "hires_steps": 3})
    assert isinstance(request_from(ctx, "txt2img", {"prompt": "p"}), GenerationRequest)
