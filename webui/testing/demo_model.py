"""A tiny SDXL-architecture model that really draws: coloured shapes from text.

It is trained here, from a seed, on the synthetic pictures of :mod:`webui.testing.demo_data`
(64 px, latents 8 x 8): first the VAE (8x downsampling; its latent scaling factor measured on
the data), then the UNet (``text_time`` micro-conditioning) together with both CLIP text
encoders (the real CLIP BPE vocabulary shipped in ``webui/models/configs``) on cached latents.
Captions are dropped now and then (zero embeddings, as SDXL's empty negative prompt gives, or
the empty prompt) so classifier-free guidance works.

Command line::

    python -m webui.testing.demo_model train OUT [--seed N] [--vae-steps N] [--unet-steps N]
    python -m webui.testing.demo_model export-fp16 OUT SHIPPED   # float16 copy to ship
    python -m webui.testing.demo_model install MODELS_DIR        # -> Stable-diffusion/sdxl-demo-shapes

writes a diffusers folder (``StableDiffusionXLPipeline.from_pretrained(OUT)`` loads it) and
``OUT/training.json`` (the seed, steps, losses and times that made it).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from webui.testing import demo_data

log = logging.getLogger(__name__)

_TEXT_HIDDEN = 32  # text_encoder (CLIP-L role)
_TEXT2_HIDDEN = 48  # text_encoder_2 (OpenCLIP bigG role): cross-attention dim 32 + 48 = 80
_TIME_EMBED = 8
_PROJECTION = 32
#: SDXL's micro-conditioning at the native size: original size, crop (0, 0), target size
#: the folder name it is installed as, and the shipped copy beside this script
NAME = "sdxl-demo-shapes"
SHIPPED = Path(__file__).resolve().with_name("demo_shapes")
TIME_IDS = (demo_data.NATIVE, demo_data.NATIVE, 0, 0, demo_data.NATIVE, demo_data.NATIVE)


@dataclass
class TrainConfig:
    """Everything that decides the weights (with the seed)."""

    seed: int = 0
    vae_steps: int = 3000
    unet_steps: int = 2700
    vae_images: int = 4096
    unet_images: int = 8192
    vae_batch: int = 8
    vae_crop: int = 64  # px square crops for the VAE...
    vae_whole_steps: int = 300  # ...then whole pictures (norms and attention see full size)
    vae_whole_batch: int = 4
    unet_batch: int = 32
    vae_lr: float = 1e-3
    unet_lr: float = 1e-3
    text_lr: float = 1e-3
    latent_noise: float = 0.05  # decoder sees latents + this x their std of noise
    min_snr_gamma: float = 5.0  # near-clean steps weigh less (min-SNR, Hang et al. 2023)
    # "min_snr": diffusers' min(SNR, gamma) / (SNR + 1) for v; "v": plain v loss, only steps
    # with SNR + 1 > gamma scaled down (more weight on the noisiest steps: tried, it drew
    # worse shapes, 45 % against 60 %, and positions were no better)
    loss_weighting: str = "min_snr"
    # v-prediction: at high noise the UNet predicts the picture itself, so the background
    # colour and the shape's place follow the prompt (epsilon prediction left every
    # background one average colour: the low-frequency part was never learnt)
    prediction_type: str = "v_prediction"
    drop_zero: float = 0.08  # caption -> zero embeddings (SDXL's empty negative prompt)
    drop_empty: float = 0.04  # caption -> "" (an empty prompt encoded)
    partial: float = 0.25  # caption -> a few of its words ("a red circle", "blue background")
    ema: float = 0.999
    threads: int = 2


# --- the architecture -----------------------------------------------------------------


def build_tokenizers():
    """SDXL's two CLIP tokenizers (real vocabulary; pad ``<|endoftext|>`` and ``!``)."""
    from transformers import CLIPTokenizer

    from webui.models.configs import config_dir

    base = config_dir("sdxl-base")
    return (CLIPTokenizer.from_pretrained(str(base / "tokenizer")),
            CLIPTokenizer.from_pretrained(str(base / "tokenizer_2")))


def build_vae():
    """A 4-level VAE (latents 8x smaller), narrow: 64 px shapes need little capacity."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 32, 64),
        layers_per_block=1, latent_channels=4, norm_num_groups=8,
        sample_size=demo_data.NATIVE, scaling_factor=1.0, force_upcast=False,
    )


def build_unet(cross_attention_dim: int = _TEXT_HIDDEN + _TEXT2_HIDDEN):
    """SDXL's UNet layout in miniature: three levels, the first without attention and the
    two lower ones with cross-attention, ``text_time`` micro-conditioning."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=demo_data.NATIVE // 8,
        in_channels=4, out_channels=4,
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 6),
        transformer_layers_per_block=(1, 1, 2),
        use_linear_projection=True,
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        projection_class_embeddings_input_dim=len(TIME_IDS) * _TIME_EMBED + _PROJECTION,
        norm_num_groups=32,
    )


def build_text_encoders(tokenizer):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from webui.testing.tiny_models import _text_config

    eos, bos = tokenizer.eos_token_id, tokenizer.bos_token_id
    n = len(tokenizer)
    return (CLIPTextModel(_text_config(n, eos, bos, _TEXT_HIDDEN, "quick_gelu")),
            CLIPTextModelWithProjection(_text_config(n, eos, bos, _TEXT2_HIDDEN, "gelu")))


def build_pipeline(seed: int = 0, prediction_type: str = "v_prediction"):
    """The untrained demo pipeline (weights from ``seed``): SDXL's Euler scheduler config,
    predicting ``prediction_type``."""
    from diffusers import StableDiffusionXLPipeline

    from webui.testing.tiny_models import _scheduler

    torch.manual_seed(seed)
    tok, tok2 = build_tokenizers()
    te, te2 = build_text_encoders(tok)
    return StableDiffusionXLPipeline(
        vae=build_vae(), text_encoder=te, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok2,
        unet=build_unet(), add_watermarker=False,
        scheduler=_scheduler().__class__.from_config(_scheduler().config,
                                                     prediction_type=prediction_type))


# --- text -----------------------------------------------------------------------------


def _token_ids(tokenizer, captions: list[str]) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=77, truncation=True,
                     return_tensors="pt").input_ids


def encode(pipe, ids: torch.Tensor, ids2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt_embeds (B, 77, 80), pooled (B, 32)) exactly as SDXL pipelines build them:
    both encoders' penultimate hidden states side by side, text_encoder_2's projection."""
    h1 = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
    out2 = pipe.text_encoder_2(ids2, output_hidden_states=True)
    return torch.cat([h1, out2.hidden_states[-2]], dim=-1), out2.text_embeds


def partial_caption(sample: demo_data.Sample, rng: random.Random) -> str:
    """Some of the caption's words, so single words ("red", "circle") mean something alone
    (negative prompts and short prompts use them)."""
    parts = []
    colour = rng.random() < 0.6
    shape = rng.random() < 0.6
    if rng.random() < 0.3:
        parts.append(sample.size)
    if colour:
        parts.append(sample.colour)
    if shape or not colour:
        parts.append(sample.shape)
    text = " ".join(parts)
    if rng.random() < 0.5:
        text = f"{text} on a {sample.background} background"
    if rng.random() < 0.4:
        text = f"{text}, {sample.position}"
    return text if rng.random() < 0.5 else f"a {text}"


# --- training -------------------------------------------------------------------------


def _images_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _cosine(step: int, total: int, warmup: int = 50, floor: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``floor``."""
    done = min(1.0, step / max(1, total))
    return min(1.0, (step + 1) / warmup) * (floor + (1 - floor) * 0.5 * (1 + math.cos(
        math.pi * done)))


def train_vae(vae, cfg: TrainConfig, gen: torch.Generator) -> dict:
    """Reconstruction (L1 + MSE: flat colours must come back exact) on random crops (the VAE
    is convolutional, and a crop costs a fraction of a whole picture), with a little noise on
    the latents (relative to their spread) so the decoder forgives a diffusion model's
    imprecision. No KL term: the posterior's spread is set afterwards to that noise."""
    images, _ = demo_data.make_dataset(cfg.vae_images, seed=cfg.seed + 1)
    x_all = _images_tensor(images)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    vae.train()
    losses, t0 = [], time.time()
    total = cfg.vae_steps + cfg.vae_whole_steps
    for step in range(total):
        for g in opt.param_groups:
            g["lr"] = cfg.vae_lr * _cosine(step, total)
        whole = step >= cfg.vae_steps
        crop = demo_data.NATIVE if whole else cfg.vae_crop
        batch = cfg.vae_whole_batch if whole else cfg.vae_batch
        idx = torch.randint(0, len(x_all), (batch,), generator=gen)
        ox, oy = torch.randint(0, demo_data.NATIVE - crop + 1, (2,), generator=gen).tolist()
        x = x_all[idx][:, :, oy:oy + crop, ox:ox + crop]
        post = vae.encode(x).latent_dist
        m = post.mean
        z = m + cfg.latent_noise * m.detach().std() * torch.randn(m.shape, generator=gen)
        rec = vae.decode(z).sample
        loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            log.info("vae step %d loss %.4f (%.0fs)", step + 1, np.mean(losses[-100:]),
                     time.time() - t0)
        if (step + 1) % 1000 == 0 and step + 1 < total:
            vae.eval()
            log.info("vae check: %s", vae_check(vae, cfg.seed + 9, n=32))
            vae.train()
    vae.eval()
    sigma = _fix_posterior_std(vae, x_all[:256], cfg.latent_noise)
    return {**vae_check(vae, cfg.seed + 9), "vae_steps": cfg.vae_steps,
            "vae_whole_steps": cfg.vae_whole_steps, "latent_std": sigma,
            "vae_loss": float(np.mean(losses[-100:])) if losses else None,
            "vae_seconds": round(time.time() - t0, 1)}


@torch.no_grad()
def _fix_posterior_std(vae, x: torch.Tensor, noise: float) -> float:
    """Make the encoder's posterior what training used: the mean it learnt, and a constant
    std of ``noise`` x the spread of the means (its log-variance outputs were never trained).
    Pipelines that sample the posterior (img2img) then see the noise the decoder expects."""
    sigma = noise * float(vae.encode(x).latent_dist.mean.std())
    n = vae.config.latent_channels
    vae.quant_conv.weight[n:].zero_()
    vae.quant_conv.bias[n:].fill_(2 * math.log(sigma))
    return sigma


@torch.no_grad()
def vae_check(vae, seed: int, n: int = 64) -> dict:
    """How well the VAE alone brings pictures back: mean absolute error (0-255) and the
    classifier's accuracy on the reconstructions, an upper bound for the whole model."""
    images, samples = demo_data.make_dataset(n, seed=seed)
    rec = vae.decode(vae.encode(_images_tensor(images)).latent_dist.mean).sample
    rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    hits = sum(demo_data.classify(r) == demo_data.expected(s) for r, s in zip(rec, samples))
    return {"vae_mae": round(float(np.abs(rec.astype(float) - images).mean()), 2),
            "vae_classify_all": hits / n}


@torch.no_grad()
def cache_latents(vae, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of every picture's latent distribution, unscaled."""
    means, stds = [], []
    for i in range(0, len(images), 256):
        post = vae.encode(_images_tensor(images[i:i + 256])).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1 - decay)


def train_unet(pipe, cfg: TrainConfig, gen: torch.Generator) -> dict:
    """The SDXL noise schedule, v (or epsilon) prediction, text encoders trained alongside."""
    images, samples = demo_data.make_dataset(cfg.unet_images, seed=cfg.seed + 2)
    t0 = time.time()
    mean, std = cache_latents(pipe.vae, images)
    # the scaling factor that gives the diffusion model unit-variance latents, from the data
    scaling = float(1.0 / mean.std())
    pipe.vae.register_to_config(scaling_factor=scaling)
    log.info("cached %d latents in %.0fs; scaling_factor %.4f", len(mean), time.time() - t0,
             scaling)
    rng = random.Random(cfg.seed + 3)
    tok, tok2 = pipe.tokenizer, pipe.tokenizer_2
    full = [s.caption for s in samples]
    ids_full, ids2_full = _token_ids(tok, full), _token_ids(tok2, full)
    empty, empty2 = _token_ids(tok, [""]), _token_ids(tok2, [""])

    unet, te, te2 = pipe.unet, pipe.text_encoder, pipe.text_encoder_2
    modules = torch.nn.ModuleList([unet, te, te2])
    ema = copy.deepcopy(modules).eval().requires_grad_(False)
    opt = torch.optim.Adam([
        {"params": unet.parameters(), "lr": cfg.unet_lr},
        {"params": list(te.parameters()) + list(te2.parameters()), "lr": cfg.text_lr},
    ])
    base_lrs = [g["lr"] for g in opt.param_groups]
    modules.train()
    alphas = pipe.scheduler.alphas_cumprod.float()
    time_ids = torch.tensor([TIME_IDS], dtype=torch.float32)
    snr = alphas / (1 - alphas)
    losses = []
    t1 = time.time()
    for step in range(cfg.unet_steps):
        scale = _cosine(step, cfg.unet_steps, warmup=100, floor=0.1)
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * scale
        idx = torch.randint(0, len(mean), (cfg.unet_batch,), generator=gen)
        ids, ids2 = ids_full[idx].clone(), ids2_full[idx].clone()
        zero = torch.zeros(cfg.unet_batch, dtype=torch.bool)
        for j, i in enumerate(idx.tolist()):
            r = rng.random()
            if r < cfg.drop_zero:
                zero[j] = True
            elif r < cfg.drop_zero + cfg.drop_empty:
                ids[j], ids2[j] = empty[0], empty2[0]
            elif r < cfg.drop_zero + cfg.drop_empty + cfg.partial:
                text = partial_caption(samples[i], rng)
                ids[j], ids2[j] = _token_ids(tok, [text])[0], _token_ids(tok2, [text])[0]
        embeds, pooled = encode(pipe, ids, ids2)
        keep = (~zero).float()
        embeds = embeds * keep[:, None, None]
        pooled = pooled * keep[:, None]
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * scaling
        t = torch.randint(0, len(alphas), (cfg.unet_batch,), generator=gen)
        noise = torch.randn(z0.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        pred = unet(zt, t, encoder_hidden_states=embeds,
                    added_cond_kwargs={"text_embeds": pooled,
                                       "time_ids": time_ids.expand(cfg.unet_batch, -1)}).sample
        if cfg.prediction_type == "v_prediction":
            target = a.sqrt() * noise - (1 - a).sqrt() * z0
            if cfg.loss_weighting == "v":
                weight = (snr[t] + 1).clamp(max=cfg.min_snr_gamma) / (snr[t] + 1)
            else:
                weight = snr[t].clamp(max=cfg.min_snr_gamma) / (snr[t] + 1)
        else:
            target = noise
            weight = snr[t].clamp(max=cfg.min_snr_gamma) / snr[t]
        loss = (((pred - target) ** 2).mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        opt.step()
        _ema_update(ema, modules, min(cfg.ema, (2 + step) / (11 + step)))
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            log.info("unet step %d loss %.4f lr x%.2f (%.0fs)", step + 1,
                     np.mean(losses[-100:]), scale, time.time() - t1)
    # the EMA weights draw cleaner pictures than the last step's
    for module, averaged in zip(modules, ema):
        module.load_state_dict(averaged.state_dict())
    modules.eval()
    return {"unet_steps": cfg.unet_steps, "unet_loss": float(np.mean(losses[-100:])) if losses else None,
            "unet_seconds": round(time.time() - t0, 1), "scaling_factor": scaling}


def train(out: Path | str, cfg: TrainConfig, vae_from: Path | str | None = None) -> dict:
    """Train the demo model and save it as a diffusers folder at ``out``; returns the log.

    Each stage draws from its own generator, so ``vae_from`` (the folder of an earlier run
    with the same seed and VAE settings) can stand in for the VAE stage and the result is
    the same as one run; its VAE time is counted in ``total_seconds``."""
    # A fixed thread count keeps float reductions, and so the weights, the same from run to
    # run. Two threads on a 2-core machine, but only when nothing else runs: OpenMP threads
    # that lose their core to another process make each step 10-30x slower.
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    start = time.time()
    pipe = build_pipeline(cfg.seed, cfg.prediction_type)
    report = {"config": asdict(cfg)}
    if vae_from is not None:
        report.update(_reuse_vae(pipe, Path(vae_from), cfg))
    else:
        report.update(train_vae(pipe.vae, cfg, torch.Generator().manual_seed(cfg.seed)))
    log.info("vae: %s", {k: v for k, v in report.items() if k.startswith("vae")})
    pipe.vae.requires_grad_(False)
    unet_start = time.time()
    report.update(train_unet(pipe, cfg, torch.Generator().manual_seed(cfg.seed + 100)))
    report["total_seconds"] = round(report["vae_seconds"] + time.time() - unet_start
                                    if vae_from is not None else time.time() - start, 1)
    save(pipe, out, report)
    return report


_VAE_FIELDS = ("seed", "vae_steps", "vae_images", "vae_batch", "vae_crop", "vae_whole_steps",
               "vae_whole_batch", "vae_lr", "latent_noise", "threads")


def _reuse_vae(pipe, folder: Path, cfg: TrainConfig) -> dict:
    """The VAE (and its report) of an earlier run whose VAE stage had these settings."""
    from diffusers import AutoencoderKL

    earlier = json.loads((folder / "training.json").read_text())
    mine, theirs = asdict(cfg), earlier["config"]
    differ = [k for k in _VAE_FIELDS if mine[k] != theirs.get(k)]
    if differ:
        raise ValueError(f"{folder} was trained with other VAE settings: {', '.join(differ)}")
    pipe.vae.load_state_dict(AutoencoderKL.from_pretrained(folder / "vae").state_dict())
    pipe.vae.eval()
    return {k: v for k, v in earlier.items() if k.startswith("vae") or k == "latent_std"}


def save(pipe, out: Path | str, report: dict) -> Path:
    out = Path(out)
    pipe.save_pretrained(out, safe_serialization=True)
    (out / "training.json").write_text(json.dumps(report, indent=2))
    return out


def install(models_dir: Path | str, source: Path | str | None = None) -> Path:
    """Put the shipped demo model into ``models_dir`` (A1111 layout) as the diffusers folder
    ``Stable-diffusion/sdxl-demo-shapes/``; a complete copy already there is left as it is.
    ``model_index.json`` is copied last: the registry sees a folder as a model only once it
    is there, so an interrupted copy is never picked up (and the next install redoes it)."""
    import shutil

    source = Path(source) if source is not None else SHIPPED
    if not (source / "model_index.json").is_file():
        raise FileNotFoundError(f"the demo model is not at {source} (a source checkout ships "
                                "it; `python -m webui.testing.demo_model train` remakes it)")
    target = Path(models_dir) / "Stable-diffusion" / NAME
    if (target / "model_index.json").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)  # what an interrupted copy left
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model_index.json"))
    shutil.copy2(source / "model_index.json", target / "model_index.json")
    return target


#: the README's grid: one prompt per column
GRID_PROMPTS = (
    "a large red circle on a blue background, center",
    "a large yellow star on a purple background, center",
    "a small white triangle on a green background, top left",
    "a large blue square on a yellow background, bottom right",
    "a large orange triangle on a black background, center",
    "a small green circle on a white background, top right",
)


def grid(model_dir: Path | str, out: Path | str, seeds: int = 2, steps: int = 20,
         cfg: float = 5.0) -> Path:
    """A labelled picture of prompts (columns) and seeds (rows) drawn by the model."""
    from diffusers import StableDiffusionXLPipeline
    from PIL import Image, ImageDraw

    pipe = StableDiffusionXLPipeline.from_pretrained(str(model_dir), local_files_only=True,
                                                     add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    n, label, pad = demo_data.NATIVE, 44, 6
    cols = len(GRID_PROMPTS)
    sheet = Image.new("RGB", (cols * (n + pad) + pad, label + seeds * (n + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for c, prompt in enumerate(GRID_PROMPTS):
        x = pad + c * (n + pad)
        words = prompt.replace(" on a", "\non a").replace(", ", ",\n")
        draw.multiline_text((x, 2), words, fill="black", spacing=1)
        gens = [torch.Generator().manual_seed(s) for s in range(seeds)]
        images = pipe([prompt] * seeds, num_inference_steps=steps, guidance_scale=cfg,
                      height=n, width=n, generator=gens).images
        for r, img in enumerate(images):
            sheet.paste(img, (x, label + pad + r * (n + pad)))
    sheet.save(out)
    return Path(out)


def export_fp16(src: Path | str, dst: Path | str) -> Path:
    """Copy the folder ``src`` to ``dst`` with every float32 weight stored as float16 (half
    the bytes, for shipping; loaders upcast on the CPU)."""
    import shutil

    from safetensors.torch import load_file, save_file

    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, dirs_exist_ok=True)
    for f in dst.rglob("*.safetensors"):
        sd = load_file(f)
        save_file({k: v.half() if v.dtype == torch.float32 else v for k, v in sd.items()}, f,
                  metadata={"format": "pt"})
    return dst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the demo model into a diffusers folder")
    t.add_argument("out", help="folder to write (a diffusers pipeline)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--vae-steps", type=int, default=TrainConfig.vae_steps)
    t.add_argument("--unet-steps", type=int, default=TrainConfig.unet_steps)
    t.add_argument("--vae-from", default=None, metavar="DIR",
                   help="take the VAE stage from an earlier run's folder (same seed and VAE "
                        "settings; the result is the same as training it again)")
    t.add_argument("--threads", type=int, default=TrainConfig.threads,
                   help="torch CPU threads (default %(default)s)")
    i = sub.add_parser("install", help=f"copy the shipped demo model into MODELS_DIR as "
                                       f"Stable-diffusion/{NAME}/")
    i.add_argument("models_dir")
    g = sub.add_parser("grid", help="save a labelled grid of prompts drawn by a model")
    g.add_argument("model_dir")
    g.add_argument("out")
    e = sub.add_parser("export-fp16", help="copy a trained folder with float16 weights")
    e.add_argument("src")
    e.add_argument("dst")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(args.models_dir))
        return
    if args.command == "grid":
        torch.set_num_threads(1)
        print(grid(args.model_dir, args.out))
        return
    if args.command == "export-fp16":
        print(export_fp16(args.src, args.dst))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = TrainConfig(seed=args.seed, vae_steps=args.vae_steps,
                      unet_steps=args.unet_steps, threads=args.threads)
    report = train(args.out, cfg, vae_from=args.vae_from)
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2))


if __name__ == "__main__":
    main()
