"""X/Y/Z plot on the real engine over the tiny models: grid sizes, labels, each cell's own
parameters in its infotext, the checkpoint axis loading each checkpoint once, Stop between
cells, and a missing checkpoint named with its axis."""

from __future__ import annotations

import re

import pytest

from extensions.xyz_plot.extension import setup
from extensions.xyz_plot.grid import layout
from extensions.xyz_plot.script import XYZArgs, XYZPlot
from tests.extensions.test_xyz_grid import dark
from tests.helpers import small_request
from webui.errors import RequestError
from webui.extensions.api import Extension, JobView
from webui.metadata.infotext import parse_infotext


@pytest.fixture(scope="module")
def manager(tiny_models_dir):
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    # one checkpoint in RAM at a time: a plot that switched checkpoints back and forth
    # would read them from disk again
    return ModelManager(ModelRegistry(tiny_models_dir / "Stable-diffusion"), device="cpu",
                        cache="1")


class Calls:
    """``JobView.generate`` on the real engine, counting calls."""

    def __init__(self, manager):
        self.manager = manager
        self.requests = []

    def __call__(self, req):
        from webui import engine
        from webui.config import Limits
        from webui.engine.progress import JobProgress
        from webui.request import validate

        self.requests.append(req)
        return engine.run(self.manager, validate(req, Limits()), JobProgress())


def job(manager, **kw):
    calls = Calls(manager)
    progress = []
    view = JobView(owner="local", mode="txt2img", generate=calls,
                   progress=lambda done, total: progress.append((done, total)), **kw)
    return view, calls, progress


def params(image) -> dict:
    return parse_infotext(image.infotext)["params"]


def test_setup_registers_the_script():
    ext = Extension("xyz_plot")
    setup(ext)
    [script] = ext.registered.scripts
    assert isinstance(script, XYZPlot) and script.title.lower() == "x/y/z plot"
    assert script.args is XYZArgs


def test_plot_with_a_checkpoint_axis(manager):
    view, calls, progress = job(manager)
    # as an A1111 client sends it: types by index (txt2img's list), the checkpoints from
    # the dropdown list; the checkpoint axis is Y, yet it is iterated outermost
    args = XYZArgs(x_type=6, x_values="3,7", y_type=11,
                   y_values_dropdown=["tiny-sdxl-a", "tiny-sdxl-b"], z_type=4, z_values="1-2",
                   margin_size=2)
    before = manager.loads_from_disk
    result = XYZPlot().run(view, small_request(seed=-1), args)
    assert manager.loads_from_disk - before == 2  # each checkpoint read once
    assert [r.model for r in calls.requests] == ["tiny-sdxl-a"] * 4 + ["tiny-sdxl-b"] * 4
    assert progress[0] == (0, 8) and progress[-1] == (8, 8)
    assert not result.interrupted and result.request.seed == -1

    # the combined grid, one grid per Z value, then the 8 cells (x fastest, then y, then z)
    combined, sub1, sub2, *cells = result.images
    assert len(cells) == 8
    geo = layout(2, 2, 64, 64, ["CFG Scale: 3", "CFG Scale: 7"], ["tiny-sdxl-a", "tiny-sdxl-b"],
                 margin=2)
    assert geo.left > 0 and geo.top > 0
    assert sub1.image.size == sub2.image.size == (geo.left + 2 * 64 + 2, geo.top + 2 * 64 + 2)
    top = layout(2, 1, *sub1.image.size, ["Steps: 1", "Steps: 2"], (), margin=2).top
    assert top > 0
    assert combined.image.size == (2 * sub1.image.width + 2, top + sub1.image.height)
    # labels drawn: above each column, left of each row, above each Z grid
    for c in range(2):
        x0, _, x1, _ = geo.cell_box(c, 0)
        assert dark(sub1.image, (x0, 0, x1, geo.top)) > 20
        _, y0, _, y1 = geo.cell_box(0, c)
        assert dark(sub1.image, (0, y0, geo.left, y1)) > 20
    assert dark(combined.image, (0, 0, sub1.image.width, top)) > 20
    assert dark(combined.image, (sub1.image.width + 2, 0, combined.image.width, top)) > 20

    # each cell's own parameters, as the engine wrote them; -1 was fixed once for all
    seed = cells[0].seed
    assert seed != -1 and all(c.seed == seed for c in cells)
    expected = [(steps, cfg, model) for steps in ("1", "2")
                for model in ("tiny-sdxl-a", "tiny-sdxl-b") for cfg in ("3", "7")]
    got = [(params(c)["Steps"], params(c)["CFG scale"], params(c)["Model"]) for c in cells]
    assert got == expected
    assert all(params(c)["Seed"] == str(seed) and "Script" not in params(c) for c in cells)
    assert all(c.image.size == (64, 64) for c in cells)

    # the grids' infotexts: the first cell's, with the axes named
    p = params(combined)
    assert (p["Script"], p["X Type"], p["X Values"], p["Y Type"], p["Z Type"], p["Z Values"]) \
        == ("X/Y/Z plot", "CFG Scale", "3,7", "Checkpoint name", "Steps", "1-2")
    assert p["Y Values"] == "tiny-sdxl-a,tiny-sdxl-b"
    assert (p["Steps"], p["CFG scale"], p["Model"], p["Seed"]) == ("1", "3", "tiny-sdxl-a",
                                                                  str(seed))
    assert 'X Values: "3,7"' in combined.infotext
    assert list(p)[-1] == "Version"
    assert parse_infotext(combined.infotext)["prompt"] == "a photo of a cat"
    p2 = params(sub2)
    assert p2["Steps"] == "2" and p2["X Type"] == "CFG Scale" and "Z Type" not in p2
    assert combined.seed == seed and result.seed == seed
    assert result.model_name == "tiny-sdxl-a"


def test_sampler_and_size_axes_without_legend(manager):
    view, calls, _ = job(manager)
    args = XYZArgs(x_type="Sampler", x_values_dropdown=["Euler", "DDIM"], y_type="Size",
                   y_values="64x64, 64x96", draw_legend=False, vary_seeds_y=True)
    result = XYZPlot().run(view, small_request(seed=100), args)
    grid, *cells = result.images  # no Z axis: the one grid first
    assert len(cells) == 4
    assert grid.image.size == (2 * 64, 2 * 96)  # cells as big as the biggest picture
    assert [(params(c)["Sampler"], params(c)["Size"], c.seed) for c in cells] == [
        ("Euler", "64x64", 100), ("DDIM", "64x64", 100), ("Euler", "64x96", 101),
        ("DDIM", "64x96", 101)]
    assert params(grid)["X Type"] == "Sampler" and params(grid)["Y Values"] == "64x64, 64x96"


def test_stop_between_cells(manager):
    made = []
    view, calls, _ = job(manager, stopped=lambda: len(made) >= 2)
    original = view.generate

    def generate(req):
        out = original(req)
        made.append(out)
        return out

    view.generate = generate
    result = XYZPlot().run(view, small_request(), XYZArgs(x_type="Seed", x_values="1-4"))
    assert result.interrupted and len(calls.requests) == 2
    grid, *cells = result.images
    assert [c.seed for c in cells] == [1, 2]
    assert grid.image.size[0] == 4 * 64  # the grid keeps room for the cells not made


def test_missing_checkpoint_names_its_axis(manager):
    view, calls, _ = job(manager)
    args = XYZArgs(x_type="Checkpoint name", x_values="no-such-model", y_type="Steps",
                   y_values="1")
    with pytest.raises(RequestError, match=re.escape(
            "X/Y/Z plot, at X axis (Checkpoint name) = no-such-model, Y axis (Steps) = 1: ")):
        XYZPlot().run(view, small_request(), args)
    with pytest.raises(RequestError, match=re.escape("X axis (Sampler): unknown sampler")):
        XYZPlot().run(view, small_request(), XYZArgs(x_type="Sampler", x_values="Nope"))
    assert len(calls.requests) == 1  # the bad sampler was refused before anything ran


def test_checkpoints_checked_first_where_the_job_lists_them(manager):
    view, calls, _ = job(manager)
    view.checkpoint_names = manager.checkpoint_names
    args = XYZArgs(x_type="Checkpoint name",
                   x_values="tiny-sdxl-c.safetensors [0123abcdef], tiny-sdxl-a, nope")
    with pytest.raises(RequestError, match=re.escape(
            "X axis (Checkpoint name): no checkpoint 'nope'; choose among: ")):
        XYZPlot().run(view, small_request(), args)
    assert calls.requests == []


def test_positional_script_args(manager):
    view, calls, _ = job(manager)
    # A1111's order; the trailing ones left out take their defaults
    result = XYZPlot().run(view, small_request(), [4, "1, 2", None, 0, "", None, 0, "", None,
                                                   False])
    grid, *cells = result.images
    assert [params(c)["Steps"] for c in cells] == ["1", "2"]
    assert grid.image.size == (2 * 64, 64)  # no legend asked for
    with pytest.raises(RequestError, match="at most 18 script_args"):
        XYZPlot().run(view, small_request(), [0] * 19)
