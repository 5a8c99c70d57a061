"""A1111's LoRA prompt syntax: ``<lora:name:weight>`` tags, taken out of the prompt text."""

from __future__ import annotations

import re

from webui.request import RequestError

_TAG = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>", re.IGNORECASE)


def extract_lora_tags(prompt: str) -> tuple[str, list[tuple[str, float]]]:
    """Remove ``<lora:name:weight>`` tags from ``prompt``; return the text sent to the text
    encoders and the (name, weight) list (weight 1 when omitted; a repeated name's weights
    add up, as A1111 does)."""
    found: dict[str, float] = {}
    for m in _TAG.finditer(prompt):
        name = m.group(1).strip()
        raw = (m.group(2) or "1").strip() or "1"
        try:
            weight = float(raw)
        except ValueError:
            raise RequestError(f"LoRA weight must be a number in <lora:{name}:{raw}>") from None
        found[name] = found.get(name, 0.0) + weight
    return strip_lora_tags(prompt), list(found.items())


def lora_names(prompt: str) -> list[str]:
    """The LoRA names tagged in ``prompt``, in order, each once (never raising)."""
    names: list[str] = []
    for m in _TAG.finditer(prompt or ""):
        name = m.group(1).strip()
        if name and name not in names:
            names.append(name)
    return names


def strip_lora_tags(prompt: str) -> str:
    """``prompt`` without its ``<lora:…>`` tags (what the text encoders see), never raising
    (for the token counter, while the user is still typing a tag's weight)."""
    text = re.sub(r"[ \t]{2,}", " ", _TAG.sub("", prompt or "")).strip()
    return re.sub(r"\s+,", ",", text)
