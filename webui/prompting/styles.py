"""Prompt styles (stub: no styles yet)."""

from __future__ import annotations


def apply_styles(prompt: str, negative: str, styles: list[str]) -> tuple[str, str]:
    """Return the prompt and negative prompt with ``styles`` applied."""
    return prompt, negative
