"""The optional output filter (issue 15 item 6): a detector looks at each finished picture;
a flagged one is blurred (or withheld) before it is watermarked and saved.

Off by default; ``--safety-checker`` turns it on with NudeNet (the optional extra in
``requirements-extras.txt``; its model is AGPL-3.0), ``--safety-checker module:factory``
with any other :class:`Detector`. ``--safety-action blur|withhold`` says what happens to a
flagged picture: *blur* keeps a heavily blurred picture, *withhold* a plain grey one; the
original pixels are never written. The picture's history row says it was filtered (the
Gallery marks it), the Stability API answers ``finishReason: CONTENT_FILTERED``, the A1111
API lists it in ``info`` (``content_filtered``), the tabs say so in a note.

A detector is anything with ``detect(image) -> list[Finding]`` (and a ``name``): the
findings it returns are what it would flag; the filter flags a picture when one of them
scores at least the filter's threshold.
"""

from __future__ import annotations

import importlib

from webui.safety.filter import (ACTIONS, CONTENT_FILTERED, Detector, FilterVerdict, Finding,
                                 OutputFilter)

__all__ = ["ACTIONS", "CONTENT_FILTERED", "Detector", "FilterVerdict", "Finding",
           "OutputFilter", "load_detector", "output_filter_from_settings"]


def load_detector(spec: str) -> Detector:
    """``"nudenet"`` (the optional extra) or ``"package.module:factory"`` (a class or
    function called with no arguments) -> a detector. ``RuntimeError`` with the reason."""
    spec = (spec or "nudenet").strip()
    if spec.lower() == "nudenet":
        from webui.safety.nudenet import NudeNetDetector

        return NudeNetDetector()
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RuntimeError(f"--safety-checker takes 'nudenet' or 'module:factory', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"--safety-checker {spec}: cannot load it: {exc}") from None
    detector = factory()
    if not callable(getattr(detector, "detect", None)):
        raise RuntimeError(f"--safety-checker {spec}: {detector!r} has no detect(image)")
    return detector


def output_filter_from_settings(settings) -> OutputFilter | None:
    """The filter ``--safety-checker`` asks for (None when off)."""
    spec = getattr(settings, "safety_checker", None)
    if not spec:
        return None
    return OutputFilter(load_detector(spec), getattr(settings, "safety_action", "blur"))
