"""Registers the X/Y/Z plot script (``script_name: "x/y/z plot"``)."""

from __future__ import annotations

from .script import XYZArgs, XYZPlot

__all__ = ["XYZArgs", "XYZPlot", "setup"]


def setup(ext) -> None:
    ext.add_script(XYZPlot())
