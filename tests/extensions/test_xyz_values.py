"""X/Y/Z plot: A1111's value syntax, the arguments model (A1111's order), axis types by index
or name, and the loop order (the checkpoint changes least often)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from extensions.xyz_plot.axes import A1111_AXES, axis_labels, resolve_axis, supported_labels
from extensions.xyz_plot.script import XYZArgs, XYZPlot, loop_order
from extensions.xyz_plot.values import parse_values, split_values
from tests.helpers import small_request
from webui.errors import RequestError


@pytest.mark.parametrize("text, kind, expected", [
    ("1-5", "int", [1, 2, 3, 4, 5]),
    (" 1 - 5 ", "int", [1, 2, 3, 4, 5]),
    ("1-10 (+2)", "int", [1, 3, 5, 7, 9]),
    ("1-10 (2)", "int", [1, 3, 5, 7, 9]),
    ("10-1 (-3)", "int", [10, 7, 4, 1]),
    ("5-1", "int", [5, 4, 3, 2, 1]),
    ("1-10 [5]", "int", [1, 3, 5, 7, 10]),  # A1111: linspace, cut to whole numbers
    ("-5--3", "int", [-5, -4, -3]),
    ("-1, 5, 7", "int", [-1, 5, 7]),
    ("1-3, 10, 20-22", "int", [1, 2, 3, 10, 20, 21, 22]),
    ("3.0", "int", [3]),
    ("0.5-1.5 (+0.25)", "float", [0.5, 0.75, 1.0, 1.25, 1.5]),
    ("0.1-0.3 (+0.1)", "float", [0.1, 0.2, 0.3]),  # no overshoot from rounding
    ("1-2 [3]", "float", [1.0, 1.5, 2.0]),
    ("0-1 [5]", "float", [0.0, 0.25, 0.5, 0.75, 1.0]),
    ("3, 7, 7.5", "float", [3.0, 7.0, 7.5]),
    ("1-3", "float", [1.0, 2.0, 3.0]),
    (".5-1 (+.25)", "float", [0.5, 0.75, 1.0]),
    ("2-1 (-0.5)", "float", [2.0, 1.5, 1.0]),
    ("Euler a, DPM++ 2M Karras", "str", ["Euler a", "DPM++ 2M Karras"]),
    ('"red, hat", blue', "str", ["red, hat", "blue"]),  # CSV quotes keep a comma
    ("a,,b, ", "str", ["a", "b"]),
    ("1-5", "str", ["1-5"]),  # ranges only on number axes
    ("a, b", "permutations", [("a", "b"), ("b", "a")]),
])
def test_parse_values(text, kind, expected):
    assert parse_values(text, kind) == expected


@pytest.mark.parametrize("text, kind, words", [
    ("", "int", "no values"),
    ("abc", "int", "not a whole number"),
    ("2.5", "int", "not a whole number"),
    ("x", "float", "not a number"),
    ("nan", "float", "not a number"),
    ("1-10 (0)", "int", "must not be 0"),
    ("1-10 (-1)", "int", "never gets from 1 to 10"),
    ("0.5-1 (-0.1)", "float", "never gets"),
    ("1-10 [0]", "int", "at least 1"),
    ("1-1000", "int", "at most 100"),
    ("0-1 (+0.001)", "float", "at most 100"),
    ("1-10 [101]", "int", "at most 100"),
    ("a, b, c, d, e, f", "permutations", "orderings"),
])
def test_parse_errors(text, kind, words):
    with pytest.raises(RequestError, match=words):
        parse_values(text, kind)


def test_split_values_takes_lists():
    assert split_values(["Euler", " DDIM ", "", None]) == ["Euler", "DDIM"]


# -- the arguments ----------------------------------------------------------------------------

A1111_ORDER = ["x_type", "x_values", "x_values_dropdown", "y_type", "y_values",
               "y_values_dropdown", "z_type", "z_values", "z_values_dropdown", "draw_legend",
               "include_lone_images", "include_sub_grids", "no_fixed_seeds", "vary_seeds_x",
               "vary_seeds_y", "vary_seeds_z", "margin_size", "csv_mode"]


def test_args_in_a1111_order():
    assert list(XYZArgs.model_fields) == A1111_ORDER
    positional = [6, "3,7", [], 13, "", ["tiny-sdxl-a", "tiny-sdxl-b"], 0, "", [], True,
                  False, False, False, False, False, False, 4, False]
    args = XYZArgs(**dict(zip(A1111_ORDER, positional)))
    assert (args.x_type, args.y_type, args.margin_size) == (6, 13, 4)
    assert args.y_values_dropdown == ["tiny-sdxl-a", "tiny-sdxl-b"]


def test_args_accept_what_clients_send():
    args = XYZArgs(x_type="6", x_values=[3, 7], x_values_dropdown=None, y_type="cfg scale",
                   z_type=None, draw_legend="true", margin_size=2.0)
    assert (args.x_type, args.x_values, args.x_values_dropdown) == (6, "3,7", [])
    assert (args.y_type, args.z_type, args.draw_legend) == ("cfg scale", "Nothing", True)


@pytest.mark.parametrize("field, value", [
    ("x_type", "Bogus axis"), ("x_type", 999), ("x_type", True), ("x_type", 1.5),
    ("margin_size", -2), ("margin_size", 501), ("colour", 1),
])
def test_args_refused_with_the_field_named(field, value):
    with pytest.raises(ValidationError) as info:
        XYZArgs(**{field: value})
    assert field in str(info.value)


def test_axis_indices_are_a1111s():
    txt = axis_labels("txt2img")
    img = axis_labels("img2img")
    # the indices A1111 clients send (xyz_grid.py's lists, per tab)
    assert [txt[i] for i in (0, 1, 4, 5, 6, 7, 9, 11, 26, 39, 42)] == [
        "Nothing", "Seed", "Steps", "Hires steps", "CFG Scale", "Prompt S/R", "Sampler",
        "Checkpoint name", "Denoising", "Refiner switch at", "Size"]
    assert [img[i] for i in (5, 6, 7, 9, 10, 25)] == [
        "CFG Scale", "Image CFG Scale", "Prompt S/R", "Sampler", "Checkpoint name",
        "Denoising"]
    # A1111 1.10 lists 43 axis types in txt2img, 42 in img2img; ours follow
    assert len(txt) == len(A1111_AXES) - 3 + 3 == 46 and len(img) == len(A1111_AXES) - 4 + 3
    assert txt[-3:] == img[-3:] == ["Width", "Height", "LoRA weight"]
    assert resolve_axis(6, "txt2img").name == "CFG Scale"
    assert resolve_axis("6", "txt2img").name == "CFG Scale"
    assert resolve_axis(5, "img2img").name == "CFG Scale"
    assert resolve_axis(10, "inpaint").name == "Checkpoint name"
    assert resolve_axis("checkpoint NAME", "txt2img").name == "Checkpoint name"


def test_supported_axes():
    assert {"Nothing", "Seed", "Steps", "CFG Scale", "Sampler", "Checkpoint name",
            "Refiner switch at", "LoRA weight", "Prompt S/R", "Size", "Width", "Height",
            "Denoising"} <= set(supported_labels("txt2img"))
    assert "Hires steps" not in supported_labels("img2img")
    with pytest.raises(RequestError, match="'Eta' cannot be varied here"):
        resolve_axis("Eta", "txt2img")
    with pytest.raises(RequestError, match="out of range"):
        resolve_axis(60, "txt2img")


# -- planning a plot: errors name the axis ---------------------------------------------------

def plan(req=None, **kw):
    return XYZPlot().plan(req or small_request(), XYZArgs(**kw))


@pytest.mark.parametrize("kw, words", [
    (dict(x_type="Sampler", x_values="Euler, Bogus"), "X axis (Sampler): unknown sampler 'Bogus'"),
    (dict(x_type="Nothing", y_type="Steps", y_values="1-5 (0)"), "Y axis (Steps): "),
    (dict(z_type="CFG Scale", z_values="3, -1"), "Z axis (CFG Scale): -1 is below 0"),
    (dict(x_type="Prompt S/R", x_values="dog, cat"), "X axis (Prompt S/R): 'dog'"),
    (dict(x_type="LoRA weight", x_values="0.5"), "X axis (LoRA weight): the prompt has no"),
    (dict(x_type="Size", x_values="64x64, 64"), "X axis (Size): '64' is not a size"),
    (dict(x_type="Schedule type", x_values="Karras, Nope"), "unknown schedule type 'Nope'"),
    (dict(x_type="Denoising", x_values="0.5, 1.5"), "X axis (Denoising): 1.5 is not between"),
    (dict(x_type="Hires steps", x_values="1"), "X axis (Hires steps): the hires fix is a txt2img setting"),
    (dict(x_type="Steps", x_values=""), "X axis (Steps): no values given"),
    (dict(x_type="Var. seed", x_values="1"), "X axis: 'Var. seed' cannot be varied"),
    (dict(x_type="Steps", x_values="1-10", y_type="Seed", y_values="1-11"),
     "10 x 11 x 1 = 110 pictures; at most 100"),
])
def test_plan_errors_name_the_axis(kw, words):
    req = small_request(mode="img2img") if kw.get("x_type") == "Hires steps" else None
    with pytest.raises(RequestError, match=re.escape(words)):
        plan(req, **kw)


def test_seed_minus_one_is_fixed_once():
    axes = plan(x_type="Seed", x_values="-1, 5, -1")
    a, b, c = axes["x"].values
    assert b == 5 and a != -1 and c != -1
    assert plan(x_type="Seed", x_values="-1", no_fixed_seeds=True)["x"].values == [-1]


def test_cell_requests():
    script = XYZPlot()
    req = small_request(prompt="a cat <lora:tiny-lora-a:1>, red", negative_prompt="blurry cat")
    axes = script.plan(req, XYZArgs(x_type="Prompt S/R", x_values="cat, dog",
                                    y_type="LoRA weight", y_values="0.25, 0.5",
                                    z_type="Size", z_values="64x96"))
    cell = script.cell_request(req, axes, {"x": 1, "y": 1, "z": 0}, 7)
    assert cell.prompt == "a dog <lora:tiny-lora-a:0.5>, red"
    assert cell.negative_prompt == "blurry dog"
    assert (cell.width, cell.height, cell.seed) == (64, 96, 7)
    axes = script.plan(req, XYZArgs(x_type="Sampler", x_values="DPM++ 2M Karras, Euler a",
                                    y_type="Steps", y_values="3", vary_seeds_x=True,
                                    vary_seeds_y=True))
    a = script.cell_request(req, axes, {"x": 0, "y": 0, "z": 0}, 10)
    b = script.cell_request(req, axes, {"x": 1, "y": 0, "z": 0}, 10)
    assert (a.sampler, a.scheduler, a.steps, a.seed) == ("DPM++ 2M Karras", "Automatic", 3, 10)
    assert (b.sampler, b.seed) == ("Euler a", 11)
    axes = script.plan(req, XYZArgs(x_type="Prompt order", x_values="cat, red"))
    assert script.cell_request(req, axes, {"x": 1, "y": 0, "z": 0}, 1).prompt == \
        "a red <lora:tiny-lora-a:1>, cat"
    axes = script.plan(req, XYZArgs(x_type="Checkpoint name",
                                    x_values="tiny-sdxl-b.safetensors [0123abcd]",
                                    y_type="Refiner checkpoint", y_values="None, r"))
    cell = script.cell_request(req, axes, {"x": 0, "y": 0, "z": 0}, 1)
    assert (cell.model, cell.refiner) == ("tiny-sdxl-b.safetensors", None)
    # txt2img's Denoising axis is the hires fix's denoising; img2img's the strength
    axes = script.plan(req, XYZArgs(x_type="Denoising", x_values="0.3"))
    assert script.cell_request(req, axes, {"x": 0, "y": 0, "z": 0}, 1).hr_denoising_strength \
        == 0.3
    i2i = small_request(mode="img2img")
    axes = script.plan(i2i, XYZArgs(x_type=25, x_values="0.3-0.5 (+0.1)"))  # img2img's index
    assert axes["x"].axis.name == "Denoising"
    assert [script.cell_request(i2i, axes, {"x": i, "y": 0, "z": 0}, 1).denoising_strength
            for i in range(3)] == [0.3, 0.4, 0.5]


def test_checkpoint_axis_is_outermost():
    args = dict(x_type="Checkpoint name", x_values="a, b", y_type="CFG Scale", y_values="3",
                z_type="Steps", z_values="2")
    assert loop_order(plan(**args)) == ["x", "z", "y"]
    assert loop_order(plan(x_type="Steps", x_values="2", y_type="Checkpoint name",
                           y_values="a")) == ["y", "z", "x"]
    assert loop_order(plan(x_type="Steps", x_values="2", y_type="VAE", y_values="a",
                           z_type="Checkpoint name", z_values="a")) == ["z", "y", "x"]
    # without a dear axis A1111's order: z outermost, x innermost
    assert loop_order(plan(x_type="Steps", x_values="2", y_type="Seed", y_values="1")) == \
        ["z", "y", "x"]
