"""The SDXL diffusers config folders shipped in ``webui/models/configs`` are right.

Everything here runs on the meta device (no real allocation of the 2.5B-parameter
UNet) and with the network blocked.

Reference parameter counts (diffusers/transformers modules built from the configs):

* base UNet 2,567,463,684 and VAE 83,653,863: the counts published for
  ``stabilityai/stable-diffusion-xl-base-1.0`` (trainer logs, model registries);
* CLIP ViT-L/14 text model 123,060,480 and OpenCLIP bigG text model with
  projection 694,659,840 (their sum, 817,720,320, is SDXL's published
  "conditioning" size);
* refiner UNet 2,259,526,660: what diffusers' own converter
  (``create_unet_diffusers_config_from_ldm``) gives for Stability's
  ``configs/inference/sd_xl_refiner.yaml`` (model_channels 384,
  channel_mult [1, 2, 4, 4], attention at levels 1-2, transformer_depth 4,
  context_dim 1280, adm_in_channels 2560).
"""

from __future__ import annotations

import json
import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from webui.models.configs import CONFIGS_ROOT, config_dir

BASE_UNET_PARAMS = 2_567_463_684
REFINER_UNET_PARAMS = 2_259_526_660
CLIP_L_PARAMS = 123_060_480
BIGG_PARAMS = 694_659_840
VAE_PARAMS = 83_653_863

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


class NetworkBlocked(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries to open a network connection."""

    def refuse(*args, **kwargs):
        raise NetworkBlocked(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta_unet(kind: str):
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    cfg = UNet2DConditionModel.load_config(str(config_dir(kind)), subfolder="unet", local_files_only=True)
    with init_empty_weights():
        return UNet2DConditionModel.from_config(cfg)


def _meta_vae(kind: str):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL

    cfg = AutoencoderKL.load_config(str(config_dir(kind)), subfolder="vae", local_files_only=True)
    with init_empty_weights():
        return AutoencoderKL.from_config(cfg)


def _meta_text_encoder(kind: str, subfolder: str):
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig.from_pretrained(str(config_dir(kind)), subfolder=subfolder, local_files_only=True)
    cls = CLIPTextModel if subfolder == "text_encoder" else CLIPTextModelWithProjection
    with init_empty_weights():
        return cls(cfg)


# --------------------------------------------------------------------------- layout


def test_config_dir_kinds():
    assert config_dir("sdxl-base").name.startswith("sdxl-base-1.0-")
    assert config_dir("sdxl-refiner").name.startswith("sdxl-refiner-1.0-")
    assert config_dir("sdxl-base").is_dir() and config_dir("sdxl-refiner").is_dir()
    with pytest.raises(ValueError):
        config_dir("sd15")


def test_clip_vocabulary_is_stored_once_in_the_package():
    """The 1.5 MB CLIP vocabulary and merges are shipped once, not once per tokenizer."""
    shipped = sorted(p.relative_to(CONFIGS_ROOT).as_posix()
                     for p in CONFIGS_ROOT.rglob("*") if p.name in ("vocab.json", "merges.txt"))
    assert shipped == ["clip-bpe/merges.txt", "clip-bpe/vocab.json"]


TOKENIZER_FILES = ["merges.txt", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]


@pytest.mark.parametrize(
    "kind, files",
    [
        (
            "sdxl-base",
            ["model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
             "text_encoder/config.json", "text_encoder_2/config.json"]
            + [f"tokenizer/{f}" for f in TOKENIZER_FILES]
            + [f"tokenizer_2/{f}" for f in TOKENIZER_FILES],
        ),
        (
            "sdxl-refiner",
            ["model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
             "text_encoder_2/config.json"]
            + [f"tokenizer_2/{f}" for f in TOKENIZER_FILES],
        ),
    ],
)
def test_folder_has_every_file_and_no_weights(kind, files):
    root = config_dir(kind)
    present = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert present == sorted(files)
    for f in files:
        if f.endswith(".json"):
            json.loads((root / f).read_text(encoding="utf-8"))


def test_model_index_matches_pipeline_classes():
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    base = StableDiffusionXLPipeline.load_config(str(config_dir("sdxl-base")))
    assert base["_class_name"] == "StableDiffusionXLPipeline"
    assert base["force_zeros_for_empty_prompt"] is True
    assert base["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert base["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    assert base["scheduler"] == ["diffusers", "EulerDiscreteScheduler"]

    ref = StableDiffusionXLImg2ImgPipeline.load_config(str(config_dir("sdxl-refiner")))
    assert ref["_class_name"] == "StableDiffusionXLImg2ImgPipeline"
    assert ref["requires_aesthetics_score"] is True
    assert ref["force_zeros_for_empty_prompt"] is False
    assert ref["text_encoder"] == [None, None] and ref["tokenizer"] == [None, None]
    assert ref["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]


# --------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("kind, expected", [("sdxl-base", BASE_UNET_PARAMS), ("sdxl-refiner", REFINER_UNET_PARAMS)])
def test_unet_parameter_count(kind, expected, no_network):
    unet = _meta_unet(kind)
    assert next(unet.parameters()).device.type == "meta"
    assert _n_params(unet) == expected


@pytest.mark.parametrize("kind", ["sdxl-base", "sdxl-refiner"])
def test_vae_parameter_count_and_scaling(kind, no_network):
    vae = _meta_vae(kind)
    assert _n_params(vae) == VAE_PARAMS
    assert vae.config.scaling_factor == pytest.approx(0.13025)
    assert vae.config.force_upcast is True


def test_clip_l_parameter_count(no_network):
    te = _meta_text_encoder("sdxl-base", "text_encoder")
    assert type(te).__name__ == "CLIPTextModel"
    assert _n_params(te) == CLIP_L_PARAMS
    assert te.config.hidden_act == "quick_gelu" and te.config.hidden_size == 768


@pytest.mark.parametrize("kind", ["sdxl-base", "sdxl-refiner"])
def test_bigg_parameter_count(kind, no_network):
    te = _meta_text_encoder(kind, "text_encoder_2")
    assert type(te).__name__ == "CLIPTextModelWithProjection"
    assert _n_params(te) == BIGG_PARAMS
    assert te.config.hidden_act == "gelu" and te.config.projection_dim == 1280


def test_unet_conditioning_dims_match_text_encoders():
    from diffusers import UNet2DConditionModel

    base = UNet2DConditionModel.load_config(str(config_dir("sdxl-base")), subfolder="unet")
    ref = UNet2DConditionModel.load_config(str(config_dir("sdxl-refiner")), subfolder="unet")
    # cross attention: CLIP-L hidden (768) + bigG hidden (1280); refiner: bigG only
    assert base["cross_attention_dim"] == 768 + 1280
    assert ref["cross_attention_dim"] == 1280
    # pooled bigG projection (1280) + 6 (base) / 5 (refiner: with aesthetic score) time ids x 256
    assert base["projection_class_embeddings_input_dim"] == 1280 + 6 * 256
    assert ref["projection_class_embeddings_input_dim"] == 1280 + 5 * 256


def test_refiner_unet_config_matches_diffusers_conversion_of_sgm_yaml():
    """diffusers' own LDM->diffusers config converter, fed Stability's sd_xl_refiner.yaml
    (and sd_xl_base.yaml) network params, gives the shipped UNet configs."""
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    vae = {"embed_dim": 4, "ddconfig": {"z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
                                        "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2}}
    yamls = {
        "sdxl-base": {"adm_in_channels": 2816, "num_classes": "sequential", "in_channels": 4, "out_channels": 4,
                      "model_channels": 320, "attention_resolutions": [4, 2], "num_res_blocks": 2,
                      "channel_mult": [1, 2, 4], "num_head_channels": 64, "use_linear_in_transformer": True,
                      "transformer_depth": [1, 2, 10], "context_dim": 2048},
        "sdxl-refiner": {"adm_in_channels": 2560, "num_classes": "sequential", "in_channels": 4, "out_channels": 4,
                         "model_channels": 384, "attention_resolutions": [4, 2], "num_res_blocks": 2,
                         "channel_mult": [1, 2, 4, 4], "num_head_channels": 64, "use_linear_in_transformer": True,
                         "transformer_depth": 4, "context_dim": [1280, 1280, 1280, 1280]},
    }
    for kind, params in yamls.items():
        original = {"model": {"params": {"scale_factor": 0.13025,
                                         "network_config": {"target": "sgm.UNetModel", "params": params},
                                         "first_stage_config": {"params": vae}}}}
        converted = create_unet_diffusers_config_from_ldm(original, {})
        shipped = json.loads((config_dir(kind) / "unet" / "config.json").read_text())
        for key, value in converted.items():
            if key == "sample_size":
                continue
            value = list(value) if isinstance(value, tuple) else value
            assert shipped[key] == value, (kind, key)


# --------------------------------------------------------------------------- scheduler


@pytest.mark.parametrize("kind", ["sdxl-base", "sdxl-refiner"])
def test_scheduler_config(kind, no_network):
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler.from_pretrained(str(config_dir(kind)), subfolder="scheduler", local_files_only=True)
    cfg = sched.config
    assert (cfg.beta_start, cfg.beta_end, cfg.beta_schedule) == (0.00085, 0.012, "scaled_linear")
    assert cfg.num_train_timesteps == 1000 and cfg.prediction_type == "epsilon"
    assert cfg.timestep_spacing == "leading" and cfg.steps_offset == 1
    assert cfg.interpolation_type == "linear" and cfg.use_karras_sigmas is False


# --------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize(
    "kind, subfolder, pad_token, pad_id",
    [
        ("sdxl-base", "tokenizer", "<|endoftext|>", 49407),
        ("sdxl-base", "tokenizer_2", "!", 0),
        ("sdxl-refiner", "tokenizer_2", "!", 0),
    ],
)
def test_tokenizer_loads_offline(kind, subfolder, pad_token, pad_id, no_network):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(config_dir(kind)), subfolder=subfolder, local_files_only=True)
    assert len(tok) == 49408
    assert tok.model_max_length == 77
    assert tok.bos_token == "<|startoftext|>" and tok.bos_token_id == 49406
    assert tok.eos_token == "<|endoftext|>" and tok.eos_token_id == 49407
    assert tok.pad_token == pad_token and tok.pad_token_id == pad_id
    assert tok("a photo of a cat").input_ids == CAT_IDS
    # lower-casing and whitespace normalisation as in OpenAI's CLIP tokenizer
    assert tok("A   Photo of a CAT").input_ids == CAT_IDS
    padded = tok("a photo of a cat", padding="max_length", max_length=tok.model_max_length, truncation=True)
    assert len(padded.input_ids) == 77 and padded.input_ids[7:] == [pad_id] * 70
    long_ids = tok("cat " * 200, truncation=True, max_length=tok.model_max_length).input_ids
    assert len(long_ids) == 77 and long_ids[-1] == 49407


def test_tokenizer_files_identical_between_folders():
    base, base2, ref2 = (config_dir("sdxl-base") / "tokenizer", config_dir("sdxl-base") / "tokenizer_2",
                         config_dir("sdxl-refiner") / "tokenizer_2")
    for name in ("vocab.json", "merges.txt"):
        assert (base / name).read_bytes() == (base2 / name).read_bytes() == (ref2 / name).read_bytes()
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        assert (base2 / name).read_bytes() == (ref2 / name).read_bytes()


def test_vocab_matches_simple_tokenizer_construction():
    """vocab.json is the SimpleTokenizer layout: bytes, bytes+</w>, merges, specials."""
    from tools.make_clip_tokenizer import bytes_to_unicode

    root = config_dir("sdxl-base") / "tokenizer"
    vocab = json.loads((root / "vocab.json").read_text(encoding="utf-8"))
    merges = (root / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2" and len(merges) - 1 == 49152 - 256 - 2
    chars = list(bytes_to_unicode().values())
    expected = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges[1:]]
    expected += ["<|startoftext|>", "<|endoftext|>"]
    assert vocab == {tok: i for i, tok in enumerate(expected)}


# --------------------------------------------------------------------------- from_single_file plumbing


@pytest.mark.parametrize("kind", ["sdxl-base", "sdxl-refiner"])
def test_from_single_file_accepts_shipped_folder_offline(kind, tmp_path, no_network):
    """``from_single_file(config=<shipped folder>, local_files_only=True)`` reads the folder
    without the network: models are passed in (meta device, no weights here), so the
    pipeline's model_index, scheduler and tokenizers all come from the shipped folder."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline
    from safetensors.torch import save_file

    ckpt = tmp_path / "placeholder.safetensors"
    save_file({"placeholder": torch.zeros(1)}, str(ckpt))

    components = {"unet": _meta_unet(kind), "vae": _meta_vae(kind),
                  "text_encoder_2": _meta_text_encoder(kind, "text_encoder_2")}
    if kind == "sdxl-base":
        components["text_encoder"] = _meta_text_encoder(kind, "text_encoder")
        cls = StableDiffusionXLPipeline
    else:
        cls = StableDiffusionXLImg2ImgPipeline

    pipe = cls.from_single_file(
        str(ckpt), config=str(config_dir(kind)), local_files_only=True, add_watermarker=False, **components
    )
    assert type(pipe) is cls
    assert isinstance(pipe.scheduler, EulerDiscreteScheduler)
    assert pipe.scheduler.config.timestep_spacing == "leading"
    assert pipe.tokenizer_2("a photo of a cat").input_ids == CAT_IDS
    assert pipe.tokenizer_2.pad_token == "!"
    assert pipe.vae_scale_factor == 8
    if kind == "sdxl-base":
        assert pipe.tokenizer("a photo of a cat").input_ids == CAT_IDS
        assert pipe.tokenizer.pad_token == "<|endoftext|>"
        assert pipe.config.force_zeros_for_empty_prompt is True
    else:
        assert pipe.text_encoder is None and pipe.tokenizer is None
        assert pipe.config.requires_aesthetics_score is True


@pytest.mark.parametrize("kind, subfolder", [("sdxl-base", "unet"), ("sdxl-base", "vae"),
                                             ("sdxl-refiner", "unet"), ("sdxl-refiner", "vae")])
def test_model_single_file_config_loading_offline(kind, subfolder, no_network):
    """The model-level single-file loader reads ``<folder>/<subfolder>/config.json`` offline."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    cls = UNet2DConditionModel if subfolder == "unet" else AutoencoderKL
    cfg = cls.load_config(str(config_dir(kind)), subfolder=subfolder, local_files_only=True)
    assert cfg["_class_name"] == cls.__name__
