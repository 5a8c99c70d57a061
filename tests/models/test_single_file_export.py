"""``save_sdxl_single_file`` writes Stability's layout that diffusers loads back exactly.

A tiny randomly initialised SDXL-architecture pipeline (base: two text encoders;
refiner: bigG only, aesthetic-score conditioning) is exported to one
``.safetensors`` and re-loaded with ``from_single_file(config=<tiny diffusers
folder>, local_files_only=True)``; weights and generated images must match.
"""

from __future__ import annotations

import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from webui.models.configs import config_dir
from webui.testing.single_file_export import (
    convert_clip_to_original,
    convert_open_clip_to_original,
    convert_unet_to_original,
    convert_vae_to_original,
    save_sdxl_single_file,
)

TIME_DIM = 8
TE1_HIDDEN = 32  # CLIP-L stand-in
TE2_HIDDEN = 64  # bigG stand-in; differs from TE1 so diffusers tells them apart
TE2_PROJ = 16  # != TE2_HIDDEN so the text_projection transpose is exercised


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


def _tiny_unet(cross_attention_dim: int, n_time_ids: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=[1, 2],
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_DIM,
        projection_class_embeddings_input_dim=n_time_ids * TIME_DIM + TE2_PROJ,
        norm_num_groups=8,
    )


def _tiny_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.13025,
    )


def _text_config(hidden: int, act: str, projection_dim: int | None = None):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=projection_dim or hidden,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )


def _tokenizer(subfolder: str):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(config_dir("sdxl-base")), subfolder=subfolder, local_files_only=True)


def _scheduler():
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler.from_pretrained(str(config_dir("sdxl-base")), subfolder="scheduler",
                                                  local_files_only=True)


def _randomise(*modules: torch.nn.Module) -> None:
    # Default inits leave some tensors at exactly 0/1 (norms, biases, zero-init
    # projections); perturb everything so a swapped or missing key would show.
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)


def _drop_weights(folder) -> None:
    """Keep only configs/tokenizers so the weights can only come from the single file."""
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith((".safetensors", ".bin")):
                os.remove(os.path.join(root, name))


@pytest.fixture(scope="module")
def tiny_base():
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = _tiny_unet(TE1_HIDDEN + TE2_HIDDEN, n_time_ids=6)
    vae = _tiny_vae()
    te1 = CLIPTextModel(_text_config(TE1_HIDDEN, "quick_gelu"))
    te2 = CLIPTextModelWithProjection(_text_config(TE2_HIDDEN, "gelu", TE2_PROJ))
    _randomise(unet, vae, te1, te2)
    for m in (unet, vae, te1, te2):
        m.eval()  # as from_single_file leaves them (train mode changes kernel choice / memory layout)
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=_tokenizer("tokenizer"),
        tokenizer_2=_tokenizer("tokenizer_2"), unet=unet, scheduler=_scheduler(), add_watermarker=False,
    )
    return pipe


@pytest.fixture(scope="module")
def tiny_refiner():
    from diffusers import StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(1)
    unet = _tiny_unet(TE2_HIDDEN, n_time_ids=5)
    vae = _tiny_vae()
    te2 = CLIPTextModelWithProjection(_text_config(TE2_HIDDEN, "gelu", TE2_PROJ))
    _randomise(unet, vae, te2)
    for m in (unet, vae, te2):
        m.eval()
    pipe = StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=None, text_encoder_2=te2, tokenizer=None, tokenizer_2=_tokenizer("tokenizer_2"),
        unet=unet, scheduler=_scheduler(), requires_aesthetics_score=True, force_zeros_for_empty_prompt=False,
        add_watermarker=False,
    )
    return pipe


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert sb[k].device.type != "meta", k
        assert torch.equal(sa[k].to(torch.float32), sb[k].to(torch.float32)), k


def test_base_layout_keys(tiny_base, tmp_path):
    from safetensors import safe_open

    path = tmp_path / "tiny_sdxl.safetensors"
    written = save_sdxl_single_file(tiny_base, path)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    assert keys == set(written)
    # the anchors diffusers (and other tools) use to recognise an SDXL base checkpoint
    for key in (
        "model.diffusion_model.input_blocks.0.0.weight",
        "model.diffusion_model.label_emb.0.0.weight",
        "model.diffusion_model.middle_block.1.proj_in.weight",
        "model.diffusion_model.output_blocks.2.2.conv.weight",
        "model.diffusion_model.out.2.weight",
        "first_stage_model.encoder.mid.attn_1.q.weight",
        "first_stage_model.decoder.up.0.block.1.conv1.weight",
        "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight",
        "conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
        "conditioner.embedders.1.model.positional_embedding",
        "conditioner.embedders.1.model.text_projection",
        "conditioner.embedders.1.model.transformer.resblocks.1.attn.in_proj_weight",
        "conditioner.embedders.1.model.transformer.resblocks.1.mlp.c_proj.bias",
        "conditioner.embedders.1.model.ln_final.weight",
    ):
        assert key in keys, key
    assert not any(k.startswith(("unet.", "vae.", "text_encoder")) for k in keys)
    assert written["first_stage_model.encoder.mid.attn_1.q.weight"].shape == (16, 16, 1, 1)
    assert written["conditioner.embedders.1.model.text_projection"].shape == (TE2_HIDDEN, TE2_PROJ)
    assert written["conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"].shape == (
        3 * TE2_HIDDEN, TE2_HIDDEN)
    assert written["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"].dtype == torch.int64
    # (diffusers' model-type detection keys on resblocks.9, so it is checked at full size below)


def test_base_round_trip_through_from_single_file(tiny_base, tmp_path, no_network):
    from diffusers import StableDiffusionXLPipeline

    config_folder = tmp_path / "tiny-sdxl-base"
    tiny_base.save_pretrained(str(config_folder))
    _drop_weights(config_folder)
    path = tmp_path / "tiny_sdxl.safetensors"
    save_sdxl_single_file(tiny_base, path)

    loaded = StableDiffusionXLPipeline.from_single_file(
        str(path), config=str(config_folder), local_files_only=True, add_watermarker=False,
        torch_dtype=torch.float32,
    )
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        _assert_same_weights(getattr(tiny_base, name), getattr(loaded, name))

    kwargs = dict(prompt="a photo of a cat", negative_prompt="blurry", height=64, width=64,
                  num_inference_steps=2, guidance_scale=5.0, output_type="np")
    expected = tiny_base(generator=torch.Generator("cpu").manual_seed(42), **kwargs).images
    actual = loaded(generator=torch.Generator("cpu").manual_seed(42), **kwargs).images
    assert expected.shape == (1, 64, 64, 3)
    assert np.isfinite(expected).all()
    np.testing.assert_array_equal(actual, expected)


def test_refiner_round_trip_through_from_single_file(tiny_refiner, tmp_path, no_network):
    from diffusers import StableDiffusionXLImg2ImgPipeline
    config_folder = tmp_path / "tiny-sdxl-refiner"
    tiny_refiner.save_pretrained(str(config_folder))
    _drop_weights(config_folder)
    path = tmp_path / "tiny_refiner.safetensors"
    written = save_sdxl_single_file(tiny_refiner, path)
    assert "conditioner.embedders.0.model.text_projection" in written
    assert not any(k.startswith("conditioner.embedders.1.") for k in written)
    assert not any(".transformer.text_model." in k for k in written)

    loaded = StableDiffusionXLImg2ImgPipeline.from_single_file(
        str(path), config=str(config_folder), local_files_only=True, add_watermarker=False,
        torch_dtype=torch.float32,
    )
    assert loaded.text_encoder is None
    for name in ("unet", "vae", "text_encoder_2"):
        _assert_same_weights(getattr(tiny_refiner, name), getattr(loaded, name))

    image = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    kwargs = dict(prompt="a photo of a cat", image=image, strength=0.5, num_inference_steps=4,
                  guidance_scale=5.0, output_type="np", aesthetic_score=6.0, negative_aesthetic_score=2.5)
    expected = tiny_refiner(generator=torch.Generator("cpu").manual_seed(7), **kwargs).images
    actual = loaded(generator=torch.Generator("cpu").manual_seed(7), **kwargs).images
    assert expected.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(actual, expected)


def test_fp16_export(tiny_base, tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "half.safetensors"
    save_sdxl_single_file(tiny_base, path, dtype=torch.float16, metadata={"modelspec.title": "tiny"})
    sd = load_file(str(path))
    for k, v in sd.items():
        if k.endswith("position_ids"):
            assert v.dtype == torch.int64
        else:
            assert v.dtype == torch.float16, k
    assert tiny_base.unet.dtype == torch.float32  # the pipeline itself is untouched


def test_full_size_key_mapping_is_diffusers_inverse(no_network):
    """On the meta device, at real SDXL sizes (shipped configs): diffusers' own
    original->diffusers converters turn the exported keys back into exactly the
    models' state-dict keys and shapes."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
        infer_diffusers_model_type,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def same_layout(back, model):
        ref = model.state_dict()
        assert set(back) == set(ref)
        assert all(tuple(back[k].shape) == tuple(ref[k].shape) for k in ref)

    for kind in ("sdxl-base", "sdxl-refiner"):
        folder = str(config_dir(kind))
        with init_empty_weights():
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder, subfolder="unet"))
            vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae"))
            te2 = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(folder, subfolder="text_encoder_2"))
            te1 = (CLIPTextModel(CLIPTextConfig.from_pretrained(folder, subfolder="text_encoder"))
                   if kind == "sdxl-base" else None)
        ckpt = {"model.diffusion_model." + k: v for k, v in convert_unet_to_original(unet.state_dict(), unet.config).items()}
        ckpt.update({"first_stage_model." + k: v for k, v in convert_vae_to_original(vae.state_dict(), vae.config).items()})
        open_clip_prefix = "conditioner.embedders.1.model." if te1 is not None else "conditioner.embedders.0.model."
        if te1 is not None:
            ckpt.update({"conditioner.embedders.0.transformer." + k: v
                         for k, v in convert_clip_to_original(te1.state_dict(), 77).items()})
        ckpt.update({open_clip_prefix + k: v for k, v in convert_open_clip_to_original(te2.state_dict()).items()})

        assert infer_diffusers_model_type(ckpt) == ("xl_base" if te1 is not None else "xl_refiner")
        same_layout(convert_ldm_unet_checkpoint(ckpt, unet.config), unet)
        same_layout(convert_ldm_vae_checkpoint(ckpt, vae.config), vae)
        same_layout(convert_open_clip_checkpoint(te2, ckpt, prefix=open_clip_prefix), te2)
        if te1 is not None:
            back = {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(ckpt).items()}
            back.pop("embeddings.position_ids")
            same_layout(back, te1)
            # SDXL base 1.0 layout: 9 input blocks (0-8), 9 output blocks, 10-deep mid transformer
            assert "model.diffusion_model.input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight" in ckpt
            assert "model.diffusion_model.middle_block.1.transformer_blocks.9.ff.net.2.bias" in ckpt
            assert "model.diffusion_model.output_blocks.8.0.skip_connection.weight" in ckpt
            assert "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight" in ckpt
            assert ckpt["conditioner.embedders.1.model.text_projection"].shape == (1280, 1280)
        else:
            # refiner layout: 12 input blocks, attention only at levels 1 and 2, depth 4
            assert "model.diffusion_model.input_blocks.11.0.in_layers.2.weight" in ckpt
            assert "model.diffusion_model.input_blocks.8.1.transformer_blocks.3.attn1.to_q.weight" in ckpt
            assert "model.diffusion_model.output_blocks.2.1.conv.weight" in ckpt
            assert "model.diffusion_model.output_blocks.8.2.conv.weight" in ckpt


def test_unknown_key_is_an_error():
    with pytest.raises(KeyError):
        convert_unet_to_original({"class_embedding.linear_1.weight": torch.zeros(1)},
                                 {"layers_per_block": 2, "up_block_types": ["UpBlock2D"]})
    with pytest.raises(KeyError):
        convert_vae_to_original({"encoder.something.weight": torch.zeros(1)}, {"up_block_types": ["UpDecoderBlock2D"]})
    with pytest.raises(KeyError):
        convert_open_clip_to_original({"text_model.encoder.layers.0.self_attn.q_proj.weight": torch.zeros(2, 2)})
