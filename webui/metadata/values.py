"""Lenient conversions of metadata values (text or JSON) to ints, floats, strings and sizes."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

logger = logging.getLogger(__name__)


def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else int(float(text))
        if isinstance(value, float) and not value.is_integer():
            return None
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def to_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text.strip() else None


def scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, type(None), dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def flatten(data: dict, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Flatten nested dicts into dotted keys (two levels deep); lists and deeper dicts become JSON."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < 2:
            flat.update(flatten(value, name + ".", depth + 1))
        else:
            flat[name] = scalar_text(value)
    return flat


def load_json(text: str | None) -> Any:
    if not text or not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        logger.debug("not JSON: %.80r", text)
        return None


def parse_size(text: Any) -> tuple[int, int] | None:
    """Read ``"1024x768"``, ``"(768, 1280)"`` or ``[768, 1280]`` as (width, height)."""
    if isinstance(text, (list, tuple)) and len(text) == 2:
        width, height = to_int(text[0]), to_int(text[1])
        return (width, height) if width and height else None
    if not isinstance(text, str):
        return None
    match = re.search(r"(\d+)\s*(?:x|X|×|,|\*)\s*(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None
