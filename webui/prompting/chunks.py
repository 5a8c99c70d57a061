"""Weighted prompts to CLIP token chunks, as A1111 builds them.

A prompt becomes one or more chunks of 75 tokens (each later framed by the start and end
tokens to CLIP's 77). A chunk ends when it is full, at ``BREAK``, or - when it fills up - just
after the last comma in its final 20 tokens, so a phrase is not cut in two. Nothing is
truncated: a long prompt gets more chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from webui.prompting.parser import BREAK, parse_prompt_attention

CHUNK = 75
COMMA_BACKTRACK = 20


@dataclass
class Chunk:
    """Up to 75 token ids with one weight each (padding not yet added)."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def _comma_id(tokenizer) -> int | None:
    ids = tokenizer(",", add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else None


def tokenize_weighted(tokenizer, prompt: str) -> list[Chunk]:
    """Split ``prompt`` (A1111 syntax) into 75-token chunks of ``tokenizer``'s ids and weights.

    An empty prompt gives one empty chunk.
    """
    fragments = parse_prompt_attention(prompt)
    texts = [t for t, w in fragments if w != BREAK[1]]
    encoded = iter(tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else [])
    comma = _comma_id(tokenizer)
    chunks: list[Chunk] = []
    current = Chunk()
    last_comma = -1

    def close() -> None:
        nonlocal current, last_comma
        chunks.append(current)
        current = Chunk()
        last_comma = -1

    for text, weight in fragments:
        if weight == BREAK[1]:
            close()
            continue
        for token in next(encoded):
            if token == comma:
                last_comma = len(current.tokens)
            elif (len(current.tokens) == CHUNK and last_comma != -1
                  and len(current.tokens) - last_comma <= COMMA_BACKTRACK):
                # move the words after the last comma to the next chunk
                keep = last_comma + 1
                moved = Chunk(current.tokens[keep:], current.weights[keep:])
                current = Chunk(current.tokens[:keep], current.weights[:keep])
                close()
                current = moved
            if len(current.tokens) == CHUNK:
                close()
            current.tokens.append(token)
            current.weights.append(weight)
    if current.tokens or not chunks:
        chunks.append(current)
    return chunks


def framed_ids(tokenizer, chunk: Chunk) -> tuple[list[int], list[float]]:
    """``chunk`` as 77 ids: start token, tokens, end token, then the tokenizer's pad token."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    ids = [bos] + chunk.tokens + [eos]
    weights = [1.0] + chunk.weights + [1.0]
    ids += [pad] * (CHUNK + 2 - len(ids))
    weights += [1.0] * (CHUNK + 2 - len(weights))
    return ids, weights


@lru_cache(maxsize=1)
def counting_tokenizer():
    """SDXL's CLIP tokenizer from the shipped configs (no model load, no network)."""
    from webui.heavy_imports import ensure

    ensure()  # two threads must not resolve transformers' lazy names at once
    from transformers import CLIPTokenizer

    from webui.models.configs import config_dir

    return CLIPTokenizer.from_pretrained(str(config_dir("sdxl-base") / "tokenizer"))


def token_count(prompt: str, tokenizer=None) -> tuple[int, int]:
    """(tokens used, token limit of the chunks used) for ``prompt``: A1111's ``n/75``, ``n/150``."""
    tokenizer = tokenizer or counting_tokenizer()
    chunks = tokenize_weighted(tokenizer, prompt or "")
    return sum(len(c.tokens) for c in chunks), CHUNK * len(chunks)
