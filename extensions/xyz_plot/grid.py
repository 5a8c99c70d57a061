"""The labelled grid image: cells in rows and columns, the column labels in a band along the
top, the row labels in a band along the left (A1111's ``draw_grid_annotations``, drawn with
Pillow's own scalable font so no system font is needed).

Geometry (``GridLayout``): every cell is ``cell_w`` x ``cell_h`` (the largest picture; a
smaller one is centred in its cell), ``margin`` pixels lie between neighbouring cells, and the
label bands are ``top`` and ``left`` pixels (0 without labels or without a legend), so a grid
is ``left + cols*cell_w + (cols-1)*margin`` wide and ``top + rows*cell_h + (rows-1)*margin``
high.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)


@lru_cache(maxsize=16)
def font(size: int):
    """Pillow's bundled scalable font at ``size`` pixels (its bitmap font if FreeType is
    missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def font_size(cell_w: int, cell_h: int) -> int:
    """A1111's label size ((w + h) / 25), at least 12 px so small cells stay readable."""
    return max(12, min(64, (cell_w + cell_h) // 25))


def _text_width(draw: ImageDraw.ImageDraw, text: str, fnt) -> int:
    if not text:
        return 0
    left, _, right, _ = draw.textbbox((0, 0), text, font=fnt)
    return right - left


def wrap(draw: ImageDraw.ImageDraw, text: str, fnt, width: int) -> list[str]:
    """``text`` broken into lines no wider than ``width`` (at spaces; a word too long for a
    line is broken between letters)."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _text_width(draw, candidate, fnt) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:  # the word alone, broken where it must be
                if line and _text_width(draw, line + ch, fnt) > width:
                    lines.append(line)
                    line = ch
                else:
                    line += ch
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


@dataclass(frozen=True)
class GridLayout:
    cols: int
    rows: int
    cell_w: int
    cell_h: int
    margin: int
    left: int  # width of the row label band
    top: int  # height of the column label band
    col_lines: tuple[tuple[str, ...], ...] = ()
    row_lines: tuple[tuple[str, ...], ...] = ()
    font_size: int = 12

    @property
    def width(self) -> int:
        return self.left + self.cols * self.cell_w + (self.cols - 1) * self.margin

    @property
    def height(self) -> int:
        return self.top + self.rows * self.cell_h + (self.rows - 1) * self.margin

    def cell_box(self, col: int, row: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a cell."""
        x = self.left + col * (self.cell_w + self.margin)
        y = self.top + row * (self.cell_h + self.margin)
        return x, y, x + self.cell_w, y + self.cell_h


def _line_height(fnt) -> int:
    ascent, descent = fnt.getmetrics() if hasattr(fnt, "getmetrics") else (11, 2)
    return ascent + descent


def layout(cols: int, rows: int, cell_w: int, cell_h: int, col_labels=(), row_labels=(),
           margin: int = 0, legend: bool = True) -> GridLayout:
    """Where everything goes (see the module's docstring)."""
    size = font_size(cell_w, cell_h)
    fnt = font(size)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = size // 2
    line_h = _line_height(fnt)
    col_lines: tuple = ()
    row_lines: tuple = ()
    top = left = 0
    if legend and any(col_labels):
        width = max(cell_w + margin - 2 * pad, 4 * size)
        col_lines = tuple(tuple(wrap(draw, label or "", fnt, width)) for label in col_labels)
        top = max(len(lines) for lines in col_lines) * line_h + 2 * pad
    if legend and any(row_labels):
        # A1111 gives the row labels three quarters of a cell; at least 8 letters' room here
        width = max(cell_w * 3 // 4, 8 * size) - 2 * pad
        row_lines = tuple(tuple(wrap(draw, label or "", fnt, width)) for label in row_labels)
        widest = max((_text_width(draw, line, fnt) for lines in row_lines for line in lines),
                     default=0)
        left = widest + 2 * pad
    return GridLayout(cols, rows, cell_w, cell_h, max(0, margin), left, top, col_lines,
                      row_lines, size)


def draw_grid(cells: list[list[Image.Image | None]], col_labels=(), row_labels=(),
              margin: int = 0, legend: bool = True) -> tuple[Image.Image, GridLayout]:
    """The grid of ``cells`` (``cells[row][col]``; None: a blank cell) with its labels; also
    its layout. Cells are as large as the largest picture."""
    rows = len(cells)
    cols = max((len(r) for r in cells), default=0)
    pictures = [im for r in cells for im in r if im is not None]
    if not pictures or not cols:
        raise ValueError("a grid needs at least one picture")
    cell_w = max(im.width for im in pictures)
    cell_h = max(im.height for im in pictures)
    geo = layout(cols, rows, cell_w, cell_h, tuple(col_labels), tuple(row_labels), margin,
                 legend)
    grid = Image.new("RGB", (geo.width, geo.height), BACKGROUND)
    for r, row in enumerate(cells):
        for c, im in enumerate(row):
            if im is None:
                continue
            x, y, _, _ = geo.cell_box(c, r)
            grid.paste(im.convert("RGB"),
                       (x + (cell_w - im.width) // 2, y + (cell_h - im.height) // 2))
    draw = ImageDraw.Draw(grid)
    fnt = font(geo.font_size)
    line_h = _line_height(fnt)
    for c, lines in enumerate(geo.col_lines):
        x0, _, x1, _ = geo.cell_box(c, 0)
        y = (geo.top - len(lines) * line_h) // 2
        for line in lines:
            draw.text(((x0 + x1 - _text_width(draw, line, fnt)) // 2, y), line, font=fnt,
                      fill=TEXT)
            y += line_h
    for r, lines in enumerate(geo.row_lines):
        _, y0, _, y1 = geo.cell_box(0, r)
        y = (y0 + y1 - len(lines) * line_h) // 2
        for line in lines:
            draw.text(((geo.left - _text_width(draw, line, fnt)) // 2, y), line, font=fnt,
                      fill=TEXT)
            y += line_h
    return grid, geo
