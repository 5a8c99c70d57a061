"""The X/Y/Z plot script: one job that makes a picture for every combination of up to three
axes' values and lays them out in labelled grids (see README.md beside this file)."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, fields, replace

from pydantic import BaseModel, ConfigDict, Field, field_validator

from webui.errors import RequestError
from webui.extensions.api import Script
from webui.request import resolve_seed

from .axes import Axis, all_labels, axis_by_name, axis_labels, format_number, model_name, \
    resolve_axis
from .grid import draw_grid
from .values import MAX_VALUES, join_values, parse_values, split_values

TITLE = "X/Y/Z plot"
#: the most pictures (cells) one plot makes
MAX_CELLS = MAX_VALUES
#: the most pixels one grid image may hold (A1111's default img_max_size_mp: 200 MP)
MAX_GRID_PIXELS = 200_000_000
LETTERS = ("x", "y", "z")


def _axis_type(value):
    """An axis type as sent: an index (int, or digits) or a name; checked against every
    tab's list here (whether the tab that runs it has it is checked when it runs)."""
    if value is None or value == "":
        return "Nothing"
    if isinstance(value, bool):
        raise ValueError("must be an axis index or name, not true/false")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be an axis index or name, got {value!r}")
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        longest = max(len(axis_labels("txt2img")), len(axis_labels("img2img")))
        if not 0 <= value < longest:
            raise ValueError(f"axis index {value} is out of range (0-{longest - 1})")
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be an axis index or name, got {value!r}")
    if axis_by_name(value) is None:
        raise ValueError(f"unknown axis type {value!r}; one of: {', '.join(all_labels())}")
    return value.strip()


def _values_text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return join_values(v for v in value if v is not None)
    if isinstance(value, bool):
        raise ValueError("must be text")
    return str(value)


def _dropdown(value):
    if value is None or value == "":
        return []
    return split_values(value) if isinstance(value, str) else \
        [str(v) for v in value if v is not None and str(v) != ""]


class XYZArgs(BaseModel):
    """The script's arguments in A1111's positional ``script_args`` order (its xyz_grid.py,
    1.7-1.10): x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown,
    z_type, z_values, z_values_dropdown, draw_legend, include_lone_images,
    include_sub_grids, no_fixed_seeds, vary_seeds_x, vary_seeds_y, vary_seeds_z,
    margin_size, csv_mode.

    An axis type is an index into A1111's axis list of the tab (``axes.axis_labels``) or its
    name (any case: "CFG Scale", "Checkpoint name", ...). Values are text in A1111's syntax
    (``1-5``, ``1-10 (+2)``, ``1-10 [5]``, comma lists); a ``*_values_dropdown`` list, when
    not empty and ``csv_mode`` is off, gives the values of an axis that A1111 shows as a
    dropdown (Sampler, Checkpoint name, ...). ``include_lone_images`` and
    ``include_sub_grids`` are accepted for A1111's order and not needed: the result always
    holds every grid and every cell's picture."""

    model_config = ConfigDict(extra="forbid")

    x_type: int | str = Field("Nothing", title="X type",
                              description="an A1111 axis index or an axis name")
    x_values: str = Field("", title="X values", description="A1111's value syntax")
    x_values_dropdown: list[str] = Field(default_factory=list, title="X values")
    y_type: int | str = Field("Nothing", title="Y type",
                              description="an A1111 axis index or an axis name")
    y_values: str = Field("", title="Y values", description="A1111's value syntax")
    y_values_dropdown: list[str] = Field(default_factory=list, title="Y values")
    z_type: int | str = Field("Nothing", title="Z type",
                              description="an A1111 axis index or an axis name")
    z_values: str = Field("", title="Z values", description="A1111's value syntax")
    z_values_dropdown: list[str] = Field(default_factory=list, title="Z values")
    draw_legend: bool = Field(True, title="Draw legend")
    include_lone_images: bool = Field(False, title="Include Sub Images")
    include_sub_grids: bool = Field(False, title="Include Sub Grids")
    no_fixed_seeds: bool = Field(False, title="Keep -1 for seeds",
                                 description="each picture draws its own random seed")
    vary_seeds_x: bool = Field(False, title="Vary seeds for X")
    vary_seeds_y: bool = Field(False, title="Vary seeds for Y")
    vary_seeds_z: bool = Field(False, title="Vary seeds for Z")
    margin_size: int = Field(0, ge=0, le=500, title="Grid margins (px)")
    csv_mode: bool = Field(False, title="Use text inputs instead of dropdowns")

    @field_validator("x_type", "y_type", "z_type", mode="before")
    @classmethod
    def _check_type(cls, v):
        return _axis_type(v)

    @field_validator("x_values", "y_values", "z_values", mode="before")
    @classmethod
    def _check_values(cls, v):
        return _values_text(v)

    @field_validator("x_values_dropdown", "y_values_dropdown", "z_values_dropdown",
                     mode="before")
    @classmethod
    def _check_dropdown(cls, v):
        return _dropdown(v)

    @classmethod
    def from_script_args(cls, args) -> "XYZArgs":
        """From A1111's positional ``script_args`` (a list; missing trailing ones take their
        defaults) or a dict of fields."""
        if isinstance(args, dict):
            return cls.model_validate(args)
        names = list(cls.model_fields)
        args = list(args or [])
        if len(args) > len(names):
            raise RequestError(f"X/Y/Z plot takes at most {len(names)} script_args "
                               f"({', '.join(names)}), got {len(args)}")
        return cls.model_validate(dict(zip(names, args)))

    @field_validator("margin_size", mode="before")
    @classmethod
    def _margin(cls, v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v


@dataclass
class PlotAxis:
    letter: str
    axis: Axis
    text: str  # the values as given (written in the grid's infotext)
    values: list
    vary_seeds: bool = False

    @property
    def used(self) -> bool:
        return self.axis.name != "Nothing"

    def label(self, i: int) -> str:
        return self.axis.format(self.values[i])


def job_names(job, attr: str) -> list[str] | None:
    """A list the job view may offer (``checkpoint_names``, ``sampler_names``: a list or a
    function returning one); None where it offers none."""
    names = getattr(job, attr, None) if job is not None else None
    if names is None:
        return None
    return list(names() if callable(names) else names)


def _axis(letter: str, args: XYZArgs, req, job=None) -> PlotAxis:
    kind = getattr(args, f"{letter}_type")
    where = letter.upper() + " axis"
    try:
        axis = resolve_axis(kind, req.mode)
    except RequestError as e:
        raise RequestError(f"{where}: {e}") from None
    text = getattr(args, f"{letter}_values")
    dropdown = getattr(args, f"{letter}_values_dropdown")
    if dropdown and not args.csv_mode:  # A1111: an axis with choices reads its dropdown
        text = join_values(dropdown)
    vary = getattr(args, f"vary_seeds_{letter}")
    if axis.name == "Nothing":
        return PlotAxis(letter, axis, "", [None], vary)
    where = f"{where} ({axis.name})"
    try:
        values = parse_values(text, axis.kind)
        checked = values
        if axis.name == "Sampler":  # an extension's samplers, where the job lists them
            extra = set(job_names(job, "sampler_names") or ())
            checked = [v for v in values if v not in extra]
        if axis.check is not None and checked:
            axis.check(checked, req)
    except RequestError as e:
        raise RequestError(f"{where}: {e}") from None
    if axis.name == "Seed" and not args.no_fixed_seeds:  # each -1 drawn once, for every cell
        values = [resolve_seed(v) for v in values]
    return PlotAxis(letter, axis, text, values, vary)


def loop_order(axes: dict[str, PlotAxis]) -> list[str]:
    """The letters from the outermost loop to the innermost: the dearest axis to change
    (a checkpoint, a refiner, a VAE) outermost, whatever its letter; between equals A1111's
    order (z, then y, then x innermost)."""
    return sorted(("z", "y", "x"), key=lambda letter: -axes[letter].axis.cost)


def _strip_script(req):
    """The cell's request must not run the plot again."""
    names = {f.name for f in fields(req)}
    changes = {k: None for k in ("script", "script_args") if k in names}
    return replace(req, **changes) if changes else req


def grid_params(first, axes: dict[str, PlotAxis], letters, no_fixed_seeds: bool) -> dict:
    """A grid's infotext keys: the first cell's, then ``Script`` and each used axis's type
    and values (A1111's ``X Type``, ``X Values``, ``Fixed X Values`` for seeds), before
    ``Version``."""
    params = {k: v for k, v in first.params.items() if k != "Version"}
    params["Script"] = TITLE
    for letter in letters:
        a = axes[letter]
        if not a.used:
            continue
        up = letter.upper()
        params[f"{up} Type"] = a.axis.name
        params[f"{up} Values"] = a.text
        if a.axis.name == "Seed" and not no_fixed_seeds:
            params[f"Fixed {up} Values"] = ", ".join(str(v) for v in a.values)
    if "Version" in first.params:
        params["Version"] = first.params["Version"]
    return params


def _grid_image(image, first, params):
    from webui.engine.result import GeneratedImage
    from webui.metadata.infotext import format_infotext, parse_infotext

    parsed = parse_infotext(first.infotext)
    text = format_infotext(parsed["prompt"], parsed["negative_prompt"], params)
    return GeneratedImage(image, first.seed, text, params)


class XYZPlot(Script):
    """A1111's X/Y/Z plot as a selectable script (``script_name: "x/y/z plot"``)."""

    title = TITLE
    args = XYZArgs

    # -- the job -----------------------------------------------------------------------------
    def plan(self, req, args: XYZArgs, job=None) -> dict[str, PlotAxis]:
        """The three axes with their values, checked (``RequestError`` naming the axis)."""
        axes = {letter: _axis(letter, args, req, job) for letter in LETTERS}
        counts = [len(axes[letter].values) for letter in LETTERS]
        total = counts[0] * counts[1] * counts[2]
        if total > MAX_CELLS:
            raise RequestError(f"X/Y/Z plot: {counts[0]} x {counts[1]} x {counts[2]} = {total} "
                               f"pictures; at most {MAX_CELLS} are allowed")
        return axes

    def _check_checkpoints(self, job, axes: dict[str, PlotAxis]) -> None:
        """Where the job view lists the checkpoints (``job.checkpoint_names``: a list or a
        function returning one), a checkpoint axis naming one that is not there is refused
        before anything runs; otherwise the cell that names it fails (naming the axis)."""
        known = job_names(job, "checkpoint_names")
        if known is None:
            return
        for letter in LETTERS:
            a = axes[letter]
            if a.axis.name != "Checkpoint name":
                continue
            for value in a.values:
                name = model_name(value)
                if not any(name in (k, os.path.basename(k), os.path.splitext(k)[0])
                           or os.path.splitext(name)[0] == k for k in known):
                    raise RequestError(f"{letter.upper()} axis (Checkpoint name): no checkpoint "
                                       f"{value!r}; choose among: {', '.join(known)}")

    def cell_request(self, req, axes: dict[str, PlotAxis], index: dict[str, int], base_seed):
        """The request of the cell at ``index`` ({letter: value index})."""
        cell = {"prompt": req.prompt, "negative_prompt": req.negative_prompt or "",
                "styles": tuple(req.styles or ())}
        for letter in LETTERS:
            a = axes[letter]
            if a.used:
                a.axis.apply(cell, a.values[index[letter]], a.values, req)
        seed = cell.get("seed", base_seed)
        if seed != -1:  # A1111's "Vary seeds for X/Y/Z": each step along the axis adds one
            nx = len(axes["x"].values) if axes["x"].vary_seeds else 1
            ny = len(axes["y"].values) if axes["y"].vary_seeds else 1
            if axes["x"].vary_seeds:
                seed += index["x"]
            if axes["y"].vary_seeds:
                seed += index["y"] * nx
            if axes["z"].vary_seeds:
                seed += index["z"] * nx * ny
        cell["seed"] = seed
        return replace(_strip_script(req), **cell)

    def _describe(self, axes, index) -> str:
        """Where a cell is: ``X axis (CFG Scale) = 3, Y axis (Checkpoint name) = b``."""
        parts = []
        for letter in LETTERS:
            a = axes[letter]
            if a.used:
                value = a.values[index[letter]]
                text = ", ".join(value) if isinstance(value, tuple) else format_number(value)
                parts.append(f"{letter.upper()} axis ({a.axis.name}) = {text}")
        return ", ".join(parts) or "the only cell"

    def run(self, job, req, args: XYZArgs):
        from webui.engine.result import GenerationResult

        if job.generate is None:
            raise RequestError("X/Y/Z plot: this door cannot make pictures for a script")
        started = time.monotonic()
        if not isinstance(args, XYZArgs):  # positional script_args or a dict
            args = XYZArgs.from_script_args(args)
        axes = self.plan(req, args, job)
        self._check_checkpoints(job, axes)
        base_seed = req.seed if args.no_fixed_seeds else resolve_seed(req.seed)
        order = loop_order(axes)
        counts = {letter: len(axes[letter].values) for letter in LETTERS}
        total = counts["x"] * counts["y"] * counts["z"]
        made: dict[tuple[int, int, int], list] = {}
        first_result = None
        interrupted = False
        job.progress(0, total)
        for combo in itertools.product(*(range(counts[letter]) for letter in order)):
            index = dict(zip(order, combo))
            if job.stopped():
                interrupted = True
                break
            cell_req = self.cell_request(req, axes, index, base_seed)
            try:
                result = job.generate(cell_req)
            except RequestError as e:
                raise RequestError(f"X/Y/Z plot, at {self._describe(axes, index)}: {e}") \
                    from None
            except LookupError as e:  # a checkpoint, refiner or VAE that is not there
                raise RequestError(f"X/Y/Z plot, at {self._describe(axes, index)}: "
                                   f"{e.args[0] if e.args else e}") from None
            key = (index["x"], index["y"], index["z"])
            if result.images:
                made[key] = list(result.images)
                first_result = first_result or result
            job.progress(len(made), total)
            if result.interrupted:
                interrupted = True
                break
        out = GenerationResult(req, interrupted=interrupted)
        if first_result is not None:
            out.model_name, out.model_hash = first_result.model_name, first_result.model_hash
        if made:
            out.images = self.grids(axes, made, args) + [
                image for key in sorted(made, key=lambda k: (k[2], k[1], k[0]))
                for image in made[key]]
            out.seed = out.images[0].seed
        out.duration = time.monotonic() - started
        return out

    def grids(self, axes: dict[str, PlotAxis], made: dict, args: XYZArgs) -> list:
        """The grid images: with a Z axis, first all Z grids side by side (each titled with
        its Z value), then one grid per Z value; without, the one grid. A missing cell (the
        job was stopped) is left blank."""
        xs, ys, zs = (axes[letter] for letter in LETTERS)
        nx, ny, nz = len(xs.values), len(ys.values), len(zs.values)
        size = max((im.image.width, im.image.height) for ims in made.values() for im in ims)
        if nx * ny * nz * size[0] * size[1] > MAX_GRID_PIXELS:
            raise RequestError(f"X/Y/Z plot: the grid would be {nx * size[0]}x"
                               f"{ny * size[1]} x {nz}, more than "
                               f"{MAX_GRID_PIXELS // 1_000_000} MP")
        col_labels = [xs.label(i) for i in range(nx)]
        row_labels = [ys.label(i) for i in range(ny)]
        subs = []
        for iz in range(nz):
            cells = [[made[(ix, iy, iz)][0].image if (ix, iy, iz) in made else None
                      for ix in range(nx)] for iy in range(ny)]
            if not any(im is not None for row in cells for im in row):
                continue
            image, _ = draw_grid(cells, col_labels, row_labels, args.margin_size,
                                 args.draw_legend)
            first = next(made[(ix, iy, iz)][0] for iy in range(ny) for ix in range(nx)
                         if (ix, iy, iz) in made)
            params = grid_params(first, axes, ("x", "y"), args.no_fixed_seeds)
            subs.append((iz, _grid_image(image, first, params)))
        if not zs.used:
            return [g for _, g in subs]
        combined, _ = draw_grid([[g.image for _, g in subs]], [zs.label(iz) for iz, _ in subs],
                                (), args.margin_size, args.draw_legend)
        first = made[min(made, key=lambda k: (k[2], k[1], k[0]))][0]
        params = grid_params(first, axes, LETTERS, args.no_fixed_seeds)
        return [_grid_image(combined, first, params)] + [g for _, g in subs]

    # -- the UI ------------------------------------------------------------------------------
    def ui(self, tab: str) -> list:
        from .ui import build

        return build(tab)
