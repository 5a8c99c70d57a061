"""Turn prompt text into the pipeline's prompt inputs (stub: plain text, no weighting yet)."""

from __future__ import annotations


def prompt_kwargs(pipe, prompt: str, negative: str, n: int) -> dict:
    """Prompt inputs of one pipeline call for ``n`` images."""
    return {"prompt": [prompt] * n, "negative_prompt": [negative] * n}
