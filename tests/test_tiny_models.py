"""The tiny test models have SDXL's architecture and are small and distinct."""

from __future__ import annotations

import json

from safetensors.torch import load_file


def test_two_tiny_bases_in_diffusers_format(tiny_models_dir):
    root = tiny_models_dir / "Stable-diffusion"
    for name in ("tiny-sdxl-a", "tiny-sdxl-b"):
        index = json.loads((root / name / "model_index.json").read_text())
        assert index["_class_name"] == "StableDiffusionXLPipeline"
        for part in ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer",
                     "tokenizer_2", "scheduler"):
            assert (root / name / part).is_dir(), part
        size = sum(f.stat().st_size for f in (root / name).rglob("*") if f.is_file())
        assert size < 20 * 2**20, f"{name} is {size} bytes"
    a = load_file(root / "tiny-sdxl-a/unet/diffusion_pytorch_model.safetensors")
    b = load_file(root / "tiny-sdxl-b/unet/diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys()
    assert any(not a[k].equal(b[k]) for k in a)


def test_sdxl_architecture_features(tiny_models_dir):
    root = tiny_models_dir / "Stable-diffusion" / "tiny-sdxl-a"
    unet = json.loads((root / "unet/config.json").read_text())
    assert unet["addition_embed_type"] == "text_time"
    vae = json.loads((root / "vae/config.json").read_text())
    assert len(vae["block_out_channels"]) == 4  # three downsamplings: latents are 8x smaller
    te2 = json.loads((root / "text_encoder_2/config.json").read_text())
    assert te2["architectures"] == ["CLIPTextModelWithProjection"]


def test_tokenizer_is_clip_bpe_with_77_tokens():
    from webui.testing.tiny_models import build_tokenizer

    tok = build_tokenizer()
    assert tok.model_max_length == 77
    ids = tok("a photo of a cat").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert len(ids) == 7  # bos, a, photo, of, a, cat, eos: merges spell whole words
    long = tok("word " * 200, truncation=True, max_length=77).input_ids
    assert len(long) == 77
