"""Tiny SDXL-architecture pipelines with random weights, for tests and the offline demo.

They follow the real SDXL layout (two CLIP text encoders, ``text_time`` micro-conditioning,
a 4-level VAE so latents are 8x smaller than images, a 77-token CLIP BPE tokenizer), so every
code path that loads and runs SDXL runs on them, but they weigh a few MB and run on a CPU.

Command line: ``python -m webui.testing.tiny_models DIR`` writes the test models under
``DIR/Stable-diffusion/`` in diffusers format.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

#: name -> (kind, seed). Bases differ only by their weights' seed. The refiner shares seed 1
#: with tiny-sdxl-a, so its text_encoder_2 and VAE have identical weights, as real SDXL's do.
TINY_MODELS: dict[str, tuple[str, int]] = {
    "tiny-sdxl-a": ("base", 1),
    "tiny-sdxl-b": ("base", 2),
    "tiny-sdxl-refiner": ("refiner", 1),
}

# Like CLIP-L (768) and OpenCLIP bigG (1280) the two encoders differ in width, which is also
# how single-file loaders tell them apart. SDXL concatenates both: cross-attention dim 80.
_TEXT_HIDDEN = 32  # text_encoder (CLIP-L role)
_TEXT2_HIDDEN = 48  # text_encoder_2 (OpenCLIP bigG role)
_PROJECTION = 32  # text_encoder_2 pooled projection size
_TIME_EMBED = 8  # addition_time_embed_dim
_MERGE_WORDS = (
    "a the of and photo cat dog red blue green sky tree house man woman portrait "
    "landscape painting city night sun moon water mountain flower car girl boy"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable unicode map (the GPT-2 scheme)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_tokenizer(pad_token: str = "<|endoftext|>"):
    """A CLIP-style BPE tokenizer with a small vocabulary and the 77-token limit.

    Vocabulary: every byte symbol, every byte symbol ending a word, merges that spell a few
    common words, then the start/end tokens, in the same order CLIP's vocab.json uses.
    """
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    merges: list[tuple[str, str]] = []
    known = set(vocab_list)
    for word in _MERGE_WORDS:
        # merge left to right: "c a t</w>" -> "ca t</w>" -> "cat</w>"
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            merged = parts[0] + parts[1]
            if merged not in known:
                merges.append(pair)
                vocab_list.append(merged)
                known.add(merged)
            parts = [merged] + parts[2:]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    tok = CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=77)
    return tok


def _text_config(vocab_size: int, eos_id: int, bos_id: int, hidden: int, act: str):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=_PROJECTION,
        hidden_act=act,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )


def _unet(cross_attention_dim: int, pooled_dim: int, n_time_ids: int, in_channels: int = 4):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 2),
        use_linear_projection=True,
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        projection_class_embeddings_input_dim=n_time_ids * _TIME_EMBED + pooled_dim,
        norm_num_groups=32,
    )


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=128,
        scaling_factor=0.13025,
        force_upcast=True,
    )


def _scheduler():
    from diffusers import EulerDiscreteScheduler

    # the SDXL 1.0 scheduler config
    return EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )


def build_pipeline(kind: str = "base", seed: int = 1, in_channels: int = 4):
    """Build a tiny SDXL pipeline (``kind`` 'base' or 'refiner') with weights from ``seed``.

    ``in_channels=9`` gives a base whose UNet takes latents + mask + masked image (inpainting).
    """
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = build_tokenizer()
    tokenizer_2 = build_tokenizer(pad_token="!")
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer.convert_tokens_to_ids("<|startoftext|>")
    vocab_size = len(tokenizer)
    torch.manual_seed(seed)
    text_encoder_2 = CLIPTextModelWithProjection(
        _text_config(vocab_size, eos, bos, _TEXT2_HIDDEN, "gelu")).eval()
    vae = _vae().eval()
    if kind == "base":
        text_encoder = CLIPTextModel(
            _text_config(vocab_size, eos, bos, _TEXT_HIDDEN, "quick_gelu")).eval()
        unet = _unet(_TEXT_HIDDEN + _TEXT2_HIDDEN, _PROJECTION, 6, in_channels).eval()
        return StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer_2,
            unet=unet,
            scheduler=_scheduler(),
            add_watermarker=False,
        )
    if kind == "refiner":
        # the refiner sees only text_encoder_2 and adds an aesthetic score (5 time ids)
        unet = _unet(_TEXT2_HIDDEN, _PROJECTION, 5).eval()
        return StableDiffusionXLImg2ImgPipeline(
            vae=vae,
            text_encoder=None,
            text_encoder_2=text_encoder_2,
            tokenizer=None,
            tokenizer_2=tokenizer_2,
            unet=unet,
            scheduler=_scheduler(),
            requires_aesthetics_score=True,
            force_zeros_for_empty_prompt=False,
            add_watermarker=False,
        )
    raise ValueError(f"unknown tiny model kind {kind!r}")


#: single-file checkpoints (Stability's key layout) written beside the diffusers folders
TINY_SINGLE_FILES: dict[str, tuple[str, int]] = {
    "tiny-sdxl-c": ("base", 3),
}


def write_single_file(pipe, target: Path) -> Path:
    """Write ``pipe`` as ``target`` (one .safetensors in the original layout) plus the
    ``<stem>.config/`` folder of diffusers configs that the loader uses for such a file
    when it is not full-size SDXL (full-size files use the configs shipped in the package)."""
    import shutil
    import tempfile

    from webui.testing.single_file_export import save_sdxl_single_file

    save_sdxl_single_file(pipe, target)
    config_dir = target.with_suffix(".config")
    with tempfile.TemporaryDirectory() as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        for f in Path(tmp).rglob("*"):
            if f.is_file() and f.suffix not in {".safetensors", ".bin"}:
                dest = config_dir / f.relative_to(tmp)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest)
    return target


def _lora_state_dict(unet, seed: int, rank: int = 4) -> dict:
    """Random LoRA weights (diffusers/PEFT key style) for the tiny UNet's attention layers."""
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                        target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    model = inject_adapter_in_model(config, _unet_like(unet), adapter_name="tiny")
    sd = get_peft_model_state_dict(model, adapter_name="tiny")
    # make the effect clearly visible on random weights
    return {f"unet.{k}": (v * 3.0).contiguous() for k, v in sd.items()}


def _unet_like(unet):
    import copy

    return copy.deepcopy(unet)


def _to_kohya(sd: dict, rank: int) -> dict:
    """The same LoRA in kohya-ss key style (``lora_unet_<module>.lora_down/up.weight``,
    ``.alpha``), as most LoRAs on model sites are published."""
    out = {}
    for key, value in sd.items():
        module, _, kind = key[len("unet."):].rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        if kind == "A.weight":
            out[f"{name}.lora_down.weight"] = value
            out[f"{name}.alpha"] = torch.tensor(float(rank))
        else:
            out[f"{name}.lora_up.weight"] = value
    return out


def write_tiny_loras(lora_dir: Path, base_unet) -> list[Path]:
    """Two LoRAs for the tiny base: one in diffusers/PEFT style with kohya training metadata
    (trigger words in ``ss_tag_frequency``), one in kohya key style."""
    import json

    from safetensors.torch import save_file

    lora_dir.mkdir(parents=True, exist_ok=True)
    a = _lora_state_dict(base_unet, seed=11)
    meta = {"ss_tag_frequency": json.dumps({"10_tinystyle": {"tinystyle": 10, "red hat": 4}}),
            "ss_network_dim": "4", "ss_base_model_version": "sdxl_base_v1-0"}
    save_file(a, lora_dir / "tiny-lora-a.safetensors", metadata=meta)
    b = _to_kohya(_lora_state_dict(base_unet, seed=12), rank=4)
    save_file(b, lora_dir / "tiny-lora-b.safetensors", metadata={"ss_network_dim": "4"})
    return [lora_dir / "tiny-lora-a.safetensors", lora_dir / "tiny-lora-b.safetensors"]


def write_tiny_vae(vae_dir: Path, seed: int = 21) -> Path:
    """An alternative tiny VAE as a single .safetensors in the original (ldm) key layout,
    like the ``sdxl_vae.safetensors`` / fp16-fix files users drop into ``models/VAE``."""
    import json

    from safetensors.torch import save_file

    from webui.testing.single_file_export import convert_vae_to_original

    torch.manual_seed(seed)
    vae = _vae().eval()
    vae_dir.mkdir(parents=True, exist_ok=True)
    target = vae_dir / "tiny-vae-alt.safetensors"
    sd = {k: v.contiguous() for k, v in convert_vae_to_original(vae.state_dict(),
                                                                 vae.config).items()}
    save_file(sd, target)
    cfg = target.with_suffix(".config")
    cfg.mkdir(exist_ok=True)
    (cfg / "config.json").write_text(json.dumps(dict(vae.config), default=list, indent=2))
    return target


def write_tiny_models(models_dir: Path | str, names: list[str] | None = None) -> list[Path]:
    """Write the tiny models under ``models_dir`` in A1111's layout: diffusers folders and a
    single-file checkpoint in ``Stable-diffusion/``, LoRAs in ``Lora/``, a VAE in ``VAE/``."""
    root = Path(models_dir) / "Stable-diffusion"
    root.mkdir(parents=True, exist_ok=True)
    written = []
    base_unet = None
    for name in names or list(TINY_MODELS):
        kind, seed = TINY_MODELS[name]
        target = root / name
        pipe = build_pipeline(kind, seed)
        pipe.save_pretrained(target, safe_serialization=True)
        if name == "tiny-sdxl-a":
            base_unet = pipe.unet
        written.append(target)
        log.info("wrote %s", target)
    if names is None:
        for name, (kind, seed) in TINY_SINGLE_FILES.items():
            written.append(write_single_file(build_pipeline(kind, seed),
                                             root / f"{name}.safetensors"))
        written += write_tiny_loras(Path(models_dir) / "Lora", base_unet)
        written.append(write_tiny_vae(Path(models_dir) / "VAE"))
    for sub in ("Lora", "VAE"):
        (Path(models_dir) / sub).mkdir(exist_ok=True)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models_dir", help="models folder (A1111 layout) to write into")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    for path in write_tiny_models(args.models_dir):
        print(path)


if __name__ == "__main__":
    main()
