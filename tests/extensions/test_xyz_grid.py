"""X/Y/Z plot: grid geometry (cells x cell size + margins + label bands) and the labels
drawn (dark pixels in each label's band)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from extensions.xyz_plot.grid import draw_grid, layout

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200),
           (200, 30, 200)]


def cells(cols=3, rows=2, size=(64, 64)):
    it = iter(COLOURS)
    return [[Image.new("RGB", size, next(it)) for _ in range(cols)] for _ in range(rows)]


def dark(image: Image.Image, box) -> int:
    """How many nearly black pixels ``box`` holds (label text is black on white)."""
    a = np.asarray(image.crop(box).convert("L"))
    return int((a < 100).sum())


def test_geometry_with_labels_and_margin():
    grid, geo = draw_grid(cells(), ["CFG Scale: 3", "CFG Scale: 5", "CFG Scale: 7"],
                          ["Steps: 2", "Steps: 4"], margin=4)
    assert geo.left > 0 and geo.top > 0
    assert grid.size == (geo.left + 3 * 64 + 2 * 4, geo.top + 2 * 64 + 1 * 4)
    # every cell where the layout says, in its colour
    it = iter(COLOURS)
    for r in range(2):
        for c in range(3):
            x0, y0, x1, y1 = geo.cell_box(c, r)
            assert (x1 - x0, y1 - y0) == (64, 64)
            assert grid.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == next(it)
    # each label is drawn: text above each column, left of each row
    for c in range(3):
        x0, _, x1, _ = geo.cell_box(c, 0)
        assert dark(grid, (x0, 0, x1, geo.top)) > 20, f"column {c} label missing"
    for r in range(2):
        _, y0, _, y1 = geo.cell_box(0, r)
        assert dark(grid, (0, y0, geo.left, y1)) > 20, f"row {r} label missing"
    # the margins and the corner stay white
    assert dark(grid, (0, 0, geo.left, geo.top)) == 0
    x1 = geo.cell_box(0, 0)[2]
    assert grid.getpixel((x1 + 1, geo.top + 10)) == (255, 255, 255)


def test_no_legend_is_the_bare_grid():
    grid, geo = draw_grid(cells(), ["a", "b", "c"], ["d", "e"], margin=6, legend=False)
    assert (geo.left, geo.top) == (0, 0)
    assert grid.size == (3 * 64 + 2 * 6, 2 * 64 + 6)
    grid, _ = draw_grid(cells(), margin=0)
    assert grid.size == (3 * 64, 2 * 64)


def test_one_axis_has_no_row_band():
    grid, geo = draw_grid(cells(rows=1), ["Seed: 1", "Seed: 2", "Seed: 3"], [""])
    assert geo.left == 0 and geo.top > 0
    assert grid.size == (3 * 64, geo.top + 64)


def test_long_labels_wrap_and_cells_centre():
    short = layout(2, 1, 64, 64, ["x", "y"], ())
    long = layout(2, 1, 64, 64, ["a long prompt replacement value", "y"], ())
    assert len(long.col_lines[0]) > 1 and long.top > short.top
    mixed = [[Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (32, 48), (0, 0, 0))]]
    grid, geo = draw_grid(mixed, legend=False)
    assert grid.size == (128, 64)  # cells as big as the biggest picture
    assert grid.getpixel((64 + 16 + 16, 32)) == (0, 0, 0)  # the small one centred
    assert grid.getpixel((64 + 2, 2)) == (255, 255, 255)
