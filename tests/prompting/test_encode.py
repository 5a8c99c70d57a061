"""SDXL prompt embeddings: both encoders, pooled output, weights, chunks, refiner family."""

from __future__ import annotations

import numpy as np
import torch

from tests.helpers import small_request
from webui.engine.txt2img import run_txt2img
from webui.prompting.encode import prompt_kwargs


def dim(pipe) -> int:
    """Both encoders' widths, concatenated as SDXL does."""
    return pipe.text_encoder.config.hidden_size + pipe.text_encoder_2.config.hidden_size


def base_pipe(ctx):
    return ctx.manager.preload("tiny-sdxl-a").pipe


def test_plain_prompt_matches_diffusers_own_encoding(ctx):
    pipe = base_pipe(ctx)
    ours = prompt_kwargs(pipe, "a photo of a cat", "blurry", 2)
    with torch.no_grad():
        pe, npe, pp, npp = pipe.encode_prompt("a photo of a cat", negative_prompt="blurry",
                                              num_images_per_prompt=2, device="cpu")
    assert ours["prompt_embeds"].shape == pe.shape == (2, 77, dim(pipe))
    torch.testing.assert_close(ours["prompt_embeds"], pe)
    torch.testing.assert_close(ours["negative_prompt_embeds"], npe)
    torch.testing.assert_close(ours["pooled_prompt_embeds"], pp)
    torch.testing.assert_close(ours["negative_pooled_prompt_embeds"], npp)


def test_empty_negative_is_zeros_like_diffusers(ctx):
    out = prompt_kwargs(base_pipe(ctx), "a cat", "", 1)
    assert not out["negative_prompt_embeds"].any()
    assert not out["negative_pooled_prompt_embeds"].any()


def test_long_prompt_is_two_chunks_for_both_encoders_and_negative_padded(ctx):
    pipe = base_pipe(ctx)
    out = prompt_kwargs(pipe, " ".join(["cat"] * 100), "blurry", 1)
    assert out["prompt_embeds"].shape == (1, 154, dim(pipe))
    assert out["negative_prompt_embeds"].shape == (1, 154, dim(pipe))
    assert out["pooled_prompt_embeds"].shape == (1, pipe.text_encoder_2.config.projection_dim)
    # the second chunk is not padding: it differs from an empty chunk
    short = prompt_kwargs(base_pipe(ctx), " ".join(["cat"] * 75), "blurry", 1)
    assert short["prompt_embeds"].shape == (1, 77, dim(pipe))
    torch.testing.assert_close(out["prompt_embeds"][:, :77], short["prompt_embeds"])


def test_weight_changes_embeddings_and_pixels(ctx):
    pipe = base_pipe(ctx)
    plain = prompt_kwargs(pipe, "a red cat", "", 1)["prompt_embeds"]
    heavy = prompt_kwargs(pipe, "a (red:1.5) cat", "", 1)["prompt_embeds"]
    assert not torch.allclose(plain, heavy)
    same = prompt_kwargs(pipe, "a (red:1) cat", "", 1)["prompt_embeds"]
    torch.testing.assert_close(plain, same)
    a = run_txt2img(ctx.manager, small_request(prompt="a red cat")).images[0].image
    b = run_txt2img(ctx.manager, small_request(prompt="a (red:1.5) cat")).images[0].image
    assert np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max() > 0


def test_refiner_family_uses_text_encoder_2_only(ctx):
    from diffusers import StableDiffusionXLImg2ImgPipeline

    from webui.testing.tiny_models import build_pipeline

    refiner = build_pipeline("refiner", 3)
    assert isinstance(refiner, StableDiffusionXLImg2ImgPipeline) and refiner.text_encoder is None
    out = prompt_kwargs(refiner, "a (cat:1.2)", "", 1)
    te2 = refiner.text_encoder_2.config
    assert out["prompt_embeds"].shape == (1, 77, te2.hidden_size)
    assert out["pooled_prompt_embeds"].shape == (1, te2.projection_dim)
    # force_zeros_for_empty_prompt is off for the refiner: the empty negative is encoded
    assert out["negative_prompt_embeds"].any()
