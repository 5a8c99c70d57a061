"""Turn prompt text into SDXL's prompt embeddings with A1111's weighting and chunking.

For each 75-token chunk (see :mod:`webui.prompting.chunks`) every text encoder of the pipeline
gives its penultimate hidden state; the states of both SDXL encoders are concatenated along
features, token embeddings are scaled by their weights (A1111's "Original" emphasis: scale,
then restore the chunk's mean), and the chunks are concatenated along the sequence. The pooled
embedding comes from ``text_encoder_2`` on the first chunk, as A1111 and SD.Next do. The
refiner family has no ``text_encoder``: it uses ``text_encoder_2`` alone.

Clip skip (A1111's "Clip skip", ``CLIP_stop_at_last_layers``) counts from that default: 1 is
the penultimate layer SDXL was trained on, 2 skips one layer more, in both encoders (as
diffusers' ``clip_skip`` does; ours is diffusers' + 1, A1111's numbering).
"""

from __future__ import annotations

import torch

from webui.errors import RequestError
from webui.prompting.chunks import Chunk, framed_ids, tokenize_weighted


def _encoders(pipe) -> list[tuple[object, object]]:
    pairs = [(getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
             (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None))]
    return [(tok, enc) for tok, enc in pairs if tok is not None and enc is not None]


def _pad_chunks(chunks: list[Chunk], n: int) -> list[Chunk]:
    return chunks + [Chunk() for _ in range(n - len(chunks))]


def _encode_chunks(tokenizer, encoder, chunks: list[Chunk], device, clip_skip: int = 1):
    """(hidden states (1, 77*len(chunks), dim), pooled output of the first chunk)."""
    states, pooled = [], None
    for chunk in chunks:
        ids, weights = framed_ids(tokenizer, chunk)
        out = encoder(torch.tensor([ids], device=device), output_hidden_states=True)
        # hidden_states[0] is the token embedding, [-1] the last layer's output
        if clip_skip + 1 >= len(out.hidden_states):
            raise RequestError(f"clip skip {clip_skip} is too large for this model: its text "
                               f"encoder has {len(out.hidden_states) - 1} layers")
        z = out.hidden_states[-1 - clip_skip]
        w = torch.tensor(weights, device=device, dtype=z.dtype)
        if not torch.all(w == 1):
            mean = z.mean()
            z = z * w[None, :, None]
            z = z * (mean / z.mean())
        states.append(z)
        if pooled is None:
            pooled = out[0] if getattr(out, "text_embeds", None) is None else out.text_embeds
    return torch.cat(states, dim=1), pooled


def encode_prompt_pair(pipe, prompt: str, negative: str, clip_skip: int = 1) -> dict:
    """SDXL embeddings of one prompt and its negative (batch 1), with equal chunk counts."""
    device = getattr(pipe, "_execution_device", None) or pipe.device
    encoders = _encoders(pipe)
    tokenized = [(tokenize_weighted(tok, prompt), tokenize_weighted(tok, negative))
                 for tok, _ in encoders]
    n_chunks = max(max(len(p), len(n)) for p, n in tokenized)
    out = {}
    for key, which in (("", 0), ("negative_", 1)):
        hidden, pooled = [], None
        for (tok, enc), pair in zip(encoders, tokenized):
            z, p = _encode_chunks(tok, enc, _pad_chunks(pair[which], n_chunks), device,
                                  clip_skip)
            hidden.append(z)
            pooled = p  # the last encoder (text_encoder_2) gives the pooled embedding
        out[f"{key}prompt_embeds"] = torch.cat(hidden, dim=-1)
        out[f"{key}pooled_prompt_embeds"] = pooled
    if not negative and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
        out["negative_prompt_embeds"] = torch.zeros_like(out["negative_prompt_embeds"])
        out["negative_pooled_prompt_embeds"] = torch.zeros_like(
            out["negative_pooled_prompt_embeds"])
    return out


def prompt_kwargs(pipe, prompt: str, negative: str, n: int, clip_skip: int = 1) -> dict:
    """Prompt inputs of one pipeline call for ``n`` images (A1111 weighting, no truncation)."""
    with torch.no_grad():
        pair = encode_prompt_pair(pipe, prompt, negative, clip_skip)
    return {k: v.repeat(n, *([1] * (v.dim() - 1))) for k, v in pair.items()}
