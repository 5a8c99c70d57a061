"""A1111's X/Y/Z plot value syntax, parsed into typed values.

An axis's values are a comma-separated list, read as CSV (so ``"a, b", c`` is two values:
``a, b`` and ``c``); each item is trimmed and empty items are dropped. On a number axis an
item may also be a range:

* ``1-5``: 1, 2, 3, 4, 5 (both ends included; ``5-1`` counts down);
* ``1-10 (+2)``: 1, 3, 5, 7, 9 (a step; ``10-1 (-3)``: 10, 7, 4, 1);
* ``1-10 [5]``: 5 values evenly spaced from 1 to 10, each cut to a whole number as A1111
  does: 1, 3, 5, 7, 10;
* floats the same way: ``0.5-1.5 (+0.25)``: 0.5, 0.75, 1, 1.25, 1.5; ``1-2 [3]``: 1, 1.5, 2.

Unlike A1111, a float range never overshoots its end by rounding error (``0.1-0.3 (+0.1)`` is
three values), and a range with a step of the wrong sign or zero is an error, not an empty
axis. Errors are ``RequestError`` with a plain message (the caller names the axis).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from io import StringIO

from webui.errors import RequestError

#: the most values one axis (and one whole plot) may have
MAX_VALUES = 100

_INT = r"[+-]?\s*\d+"
_FLOAT = r"[+-]?\s*(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE_INT = re.compile(
    rf"\s*({_INT})\s*-\s*({_INT})\s*(?:\(\s*({_INT})\s*\)|\[\s*(\d+)\s*\])?\s*")
_RANGE_FLOAT = re.compile(
    rf"\s*({_FLOAT})\s*-\s*({_FLOAT})\s*(?:\(\s*({_FLOAT})\s*\)|\[\s*(\d+)\s*\])?\s*")

KINDS = ("int", "float", "str", "permutations")


def split_values(text) -> list[str]:
    """The items of a comma-separated list, read as CSV (quotes keep commas in an item),
    trimmed, empty ones dropped."""
    if text is None:
        return []
    if isinstance(text, (list, tuple)):
        return [str(v).strip() for v in text if v is not None and str(v).strip()]
    rows = csv.reader(StringIO(str(text)), skipinitialspace=True)
    return [item.strip() for item in itertools.chain.from_iterable(rows) if item.strip()]


def join_values(values) -> str:
    """The inverse of ``split_values``: one CSV line (items holding commas are quoted)."""
    with StringIO() as out:
        csv.writer(out).writerow([str(v) for v in values])
        return out.getvalue().strip()


def _num(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _too_many(item: str, n: int) -> RequestError:
    return RequestError(f"{item!r} gives {n} values; at most {MAX_VALUES} are allowed")


def _int_range(item: str) -> list[int] | None:
    m = _RANGE_INT.fullmatch(item)
    if m is None:
        return None
    start, end = int(_num(m.group(1))), int(_num(m.group(2)))
    if m.group(4) is not None:  # [count]: evenly spaced, cut to whole numbers (A1111)
        count = int(m.group(4))
        if count < 1:
            raise RequestError(f"{item!r}: the count in [ ] must be at least 1")
        if count > MAX_VALUES:
            raise _too_many(item, count)
        if count == 1:
            return [start]
        return [int(start + (end - start) * i / (count - 1)) for i in range(count)]
    step = int(_num(m.group(3))) if m.group(3) is not None else (1 if end >= start else -1)
    if step == 0:
        raise RequestError(f"{item!r}: the step must not be 0")
    if (end - start) * step < 0:
        raise RequestError(f"{item!r}: a step of {step:+d} never gets from {start} to {end}")
    n = (end - start) // step + 1
    if n > MAX_VALUES:
        raise _too_many(item, n)
    return list(range(start, end + (1 if step > 0 else -1), step))


def _clean(x: float) -> float:
    x = round(x, 10)
    return 0.0 if x == 0 else x


def _float_range(item: str) -> list[float] | None:
    m = _RANGE_FLOAT.fullmatch(item)
    if m is None:
        return None
    start, end = float(_num(m.group(1))), float(_num(m.group(2)))
    if m.group(4) is not None:
        count = int(m.group(4))
        if count < 1:
            raise RequestError(f"{item!r}: the count in [ ] must be at least 1")
        if count > MAX_VALUES:
            raise _too_many(item, count)
        if count == 1:
            return [_clean(start)]
        return [_clean(start + (end - start) * i / (count - 1)) for i in range(count)]
    if m.group(3) is not None:
        step = float(_num(m.group(3)))
    else:
        step = 1.0 if end >= start else -1.0
    if step == 0:
        raise RequestError(f"{item!r}: the step must not be 0")
    if (end - start) * step < 0:
        raise RequestError(f"{item!r}: a step of {step:+g} never gets from {start:g} to {end:g}")
    n = math.floor((end - start) / step + 1e-9) + 1
    if n > MAX_VALUES:
        raise _too_many(item, n)
    return [_clean(start + i * step) for i in range(n)]


def to_int(item) -> int:
    """A whole number from ``item`` ("3", "3.0", "+3", 3)."""
    if isinstance(item, bool):
        raise RequestError(f"{item!r} is not a whole number")
    if isinstance(item, int):
        return item
    text = _num(str(item))
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise RequestError(f"{str(item)!r} is not a whole number") from None
    if not value.is_integer():
        raise RequestError(f"{str(item)!r} is not a whole number")
    return int(value)


def to_float(item) -> float:
    if isinstance(item, bool):
        raise RequestError(f"{item!r} is not a number")
    try:
        value = float(_num(str(item)))
    except ValueError:
        raise RequestError(f"{str(item)!r} is not a number") from None
    if not math.isfinite(value):
        raise RequestError(f"{str(item)!r} is not a number")
    return value


def parse_values(text, kind: str = "str") -> list:
    """The values of one axis: ``text`` (a CSV line, or a list of items) read as ``kind``
    ("int", "float", "str" or "permutations": every ordering of the items, A1111's
    *Prompt order*). Raises ``RequestError`` for a bad item or range, no values at all, or
    more than ``MAX_VALUES``."""
    if kind not in KINDS:
        raise ValueError(f"unknown value kind {kind!r}")
    items = split_values(text)
    if not items:
        raise RequestError("no values given")
    out: list = []
    for item in items:
        if kind == "int":
            expanded = _int_range(item)
            out.extend(expanded if expanded is not None else [to_int(item)])
        elif kind == "float":
            expanded = _float_range(item)
            out.extend(expanded if expanded is not None else [to_float(item)])
        else:
            out.append(item)
        if len(out) > MAX_VALUES:
            raise RequestError(f"{len(out)}+ values; at most {MAX_VALUES} are allowed")
    if kind == "permutations":
        n = math.factorial(len(out))
        if n > MAX_VALUES:
            raise RequestError(f"{len(out)} items give {n} orderings; at most {MAX_VALUES} "
                               "are allowed")
        out = [tuple(p) for p in itertools.permutations(out)]
    return out
