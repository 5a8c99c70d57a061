"""A tiny canny ControlNet for the demo model: an edge map steers which shape is drawn, where.

Trained here, from a seed, on :mod:`webui.testing.demo_data` pictures and their canny edges
(OpenCV at sd-webui-controlnet's 100/200 on the RGB picture, as the extension runs it). The
ControlNet starts as a copy of the shipped demo UNet's encoder (``ControlNetModel.from_unet``,
SDXL's ``text_time`` micro-conditioning included); the demo UNet, VAE and text encoders stay
frozen (latents cached), and the loss is the demo model's own: v-prediction on SDXL's noise
schedule with min-SNR weighting. Most captions leave the shape out ("a red shape on a blue
background"), so only the edges can tell the shape and its place.

Command line::

    python -m webui.testing.demo_controlnet train OUT [--seed N] [--steps N]
    python -m webui.testing.demo_controlnet install MODELS_DIR  # ControlNet/sdxl-demo-shapes-canny
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from webui.testing import demo_data, demo_model

log = logging.getLogger(__name__)

#: the folder name it is installed as (under ``ControlNet/``), and the shipped copy
NAME = "sdxl-demo-shapes-canny"
SHIPPED = Path(__file__).resolve().with_name("demo_shapes_controlnet")
CANNY_LOW, CANNY_HIGH = 100, 200  # sd-webui-controlnet's defaults


@dataclass
class TrainConfig:
    """Everything that decides the weights (with the seed)."""

    seed: int = 0
    steps: int = 850
    images: int = 2048  # 40 outlines (4 shapes x 5 places x 2 sizes), jittered: plenty
    batch: int = 16
    lr: float = 1e-3
    # caption mix: the rest are the full training captions (shape word and all)
    open_caption: float = 0.55  # "a red shape on a blue background" (+ size/position at times)
    drop_zero: float = 0.10  # zero embeddings: CFG's negative side sees the edges too
    drop_empty: float = 0.05  # the empty prompt
    partial: float = 0.10  # demo_model.partial_caption's short captions
    # the edges decide the layout at the noisy start: half of each batch draws timesteps
    # towards high noise (T2I-Adapter's cubic schedule, t = (1 - u^3) T), half uniformly
    # (the outline's detail is set at mid noise), and noisy steps weigh fully (v loss scaled
    # down only where SNR + 1 > gamma; min-SNR weighting would give them almost none). A
    # trial with all-cubic timesteps placed shapes right after 300 steps, shapes not yet.
    cubic_share: float = 0.5
    min_snr_gamma: float = 5.0
    ema: float = 0.99
    # the edge map's encoder: three stride-2 convs (128 px -> 16 latents), narrower than
    # diffusers' (16, 32, 96, 256) default: one-pixel outlines need little capacity
    cond_channels: tuple[int, ...] = (16, 32, 64, 128)
    threads: int = 1


# --- edge maps ------------------------------------------------------------------------


def canny_map(image) -> Image.Image:
    """Canny edges of ``image`` (PIL or H x W x 3 uint8), white on black RGB. The RGB picture
    goes to OpenCV as in sd-webui-controlnet: a grey conversion first loses the edge between
    colours of equal brightness (red on blue gives no edges at 100/200)."""
    import cv2

    arr = np.ascontiguousarray(np.asarray(image.convert("RGB") if isinstance(image, Image.Image)
                                          else image, dtype=np.uint8))
    edges = cv2.Canny(arr, CANNY_LOW, CANNY_HIGH)
    return Image.fromarray(edges).convert("RGB")


def shape_edges(shape: str, position: str = "center", size: str = "large") -> Image.Image:
    """The canny map of one shape drawn white on black (a user's hand-made edge map)."""
    return canny_map(demo_data.render(demo_data.Sample(shape, "white", "black", position, size)))


def open_caption(sample: demo_data.Sample, rng: random.Random) -> str:
    """A caption without the shape's name: colours always, size and position at times."""
    size = f"{sample.size} " if rng.random() < 0.25 else ""
    text = f"a {size}{sample.colour} shape on a {sample.background} background"
    return f"{text}, {sample.position}" if rng.random() < 0.25 else text


# --- training -------------------------------------------------------------------------


def load_demo(model_dir: Path | str | None = None):
    """The demo model's pipeline (float32), frozen."""
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(
        str(model_dir or demo_model.SHIPPED), dtype=torch.float32, local_files_only=True,
        add_watermarker=False)
    for m in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2):
        m.requires_grad_(False).eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_controlnet(unet, cfg: TrainConfig):
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=cfg.cond_channels)


def _caption(sample: demo_data.Sample, rng: random.Random, cfg: TrainConfig) -> str | None:
    """This step's caption for ``sample``; None for zero embeddings."""
    r = rng.random()
    if r < cfg.drop_zero:
        return None
    r -= cfg.drop_zero
    if r < cfg.drop_empty:
        return ""
    r -= cfg.drop_empty
    if r < cfg.open_caption:
        return open_caption(sample, rng)
    r -= cfg.open_caption
    if r < cfg.partial:
        return demo_model.partial_caption(sample, rng)
    return sample.caption


@torch.no_grad()
def _embed(pipe, captions: list[str | None]) -> tuple[torch.Tensor, torch.Tensor]:
    texts = [c or "" for c in captions]
    embeds, pooled = demo_model.encode(pipe, demo_model._token_ids(pipe.tokenizer, texts),
                                       demo_model._token_ids(pipe.tokenizer_2, texts))
    keep = torch.tensor([c is not None for c in captions], dtype=torch.float32)
    return embeds * keep[:, None, None], pooled * keep[:, None]


def train(out: Path | str, cfg: TrainConfig, eval_every: int = 0) -> dict:
    """Train the ControlNet and save it (float16) as a diffusers folder at ``out``."""
    # one fixed thread: the same float reductions (so the same weights) on every run, and
    # the shared CPU's other core stays free
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    pipe = load_demo()
    net = build_controlnet(pipe.unet, cfg).train()
    images, samples = demo_data.make_dataset(cfg.images, seed=cfg.seed + 1)
    edges = torch.from_numpy(np.stack([np.asarray(canny_map(i))[..., 0] for i in images]) > 0)
    mean, std = demo_model.cache_latents(pipe.vae, images)
    scaling = pipe.vae.config.scaling_factor
    log.info("cached %d latents and edge maps in %.0fs", len(mean), time.time() - t0)

    gen = torch.Generator().manual_seed(cfg.seed + 2)
    rng = random.Random(cfg.seed + 3)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    alphas = pipe.scheduler.alphas_cumprod.float()
    snr = alphas / (1 - alphas)
    time_ids = torch.tensor([demo_model.TIME_IDS], dtype=torch.float32).expand(cfg.batch, -1)
    losses, evals, t1 = [], [], time.time()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * demo_model._cosine(step, cfg.steps, warmup=100, floor=0.1)
        idx = torch.randint(0, len(mean), (cfg.batch,), generator=gen)
        embeds, pooled = _embed(pipe, [_caption(samples[i], rng, cfg) for i in idx.tolist()])
        cond = edges[idx].float()[:, None].expand(-1, 3, -1, -1)  # [0, 1] as the pipeline's
        z0 = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * scaling
        u = torch.rand(cfg.batch, generator=gen)
        cubic = torch.arange(cfg.batch) < round(cfg.cubic_share * cfg.batch)
        t = (torch.where(cubic, 1 - u ** 3, u) * len(alphas)).long().clamp(max=len(alphas) - 1)
        noise = torch.randn(z0.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        extra = {"text_embeds": pooled, "time_ids": time_ids}
        down, mid = net(zt, t, encoder_hidden_states=embeds, controlnet_cond=cond,
                        added_cond_kwargs=extra, return_dict=False)
        pred = pipe.unet(zt, t, encoder_hidden_states=embeds, added_cond_kwargs=extra,
                         down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample
        target = a.sqrt() * noise - (1 - a).sqrt() * z0  # v
        weight = (snr[t] + 1).clamp(max=cfg.min_snr_gamma) / (snr[t] + 1)
        loss = (((pred - target) ** 2).mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        demo_model._ema_update(ema, net, min(cfg.ema, (2 + step) / (11 + step)))
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log.info("step %d loss %.4f (%.0fs)", step + 1, np.mean(losses[-50:]),
                     time.time() - t1)
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < cfg.steps:
            evals.append({"step": step + 1, **evaluate(pipe, ema)})
            log.info("eval %s", evals[-1])
    seconds = round(time.time() - t0, 1)
    report = {"config": asdict(cfg), "steps": cfg.steps, "seed": cfg.seed,
              "loss_first_50": float(np.mean(losses[:50])),
              "loss_last_100": float(np.mean(losses[-100:])),
              "train_seconds": seconds, "evals": evals}
    report["final"] = evaluate(pipe, ema)
    log.info("final %s", report["final"])
    save(ema, out, report)
    return report


# --- checking and shipping ------------------------------------------------------------


def pipeline(pipe, controlnet):
    """The demo model's components with ``controlnet``: diffusers' SDXL ControlNet pipeline."""
    from diffusers import StableDiffusionXLControlNetPipeline

    cn = StableDiffusionXLControlNetPipeline(**{k: v for k, v in pipe.components.items()
                                                if k not in ("feature_extractor",
                                                             "image_encoder")},
                                             controlnet=controlnet, add_watermarker=False)
    cn.set_progress_bar_config(disable=True)
    return cn


@torch.no_grad()
def evaluate(pipe, controlnet, n: int = 16, steps: int = 12, seed: int = 500) -> dict:
    """Shape and position accuracy (``demo_data.classify``) of pictures drawn from captions
    without the shape's name, with the edge map (scale 1) and without (scale 0)."""
    rng = random.Random(seed)
    samples = [demo_data.random_sample(rng) for _ in range(n)]
    maps = [shape_edges(s.shape, s.position, s.size) for s in samples]
    prompts = [f"a {s.colour} shape on a {s.background} background" for s in samples]
    cn = pipeline(pipe, controlnet.eval())
    out = {}
    for scale in (1.0, 0.0):
        gens = [torch.Generator().manual_seed(seed + i) for i in range(n)]
        images = cn(prompts, image=maps, num_inference_steps=steps, guidance_scale=5.0,
                    height=demo_data.NATIVE, width=demo_data.NATIVE, generator=gens,
                    controlnet_conditioning_scale=scale).images
        got = [demo_data.classify(i) for i in images]
        key = "control" if scale else "no_control"
        out[f"{key}_shape"] = sum(g.shape == s.shape for g, s in zip(got, samples)) / n
        out[f"{key}_position"] = sum(g.position == s.position for g, s in zip(got, samples)) / n
        out[f"{key}_colour"] = sum(g.colour == s.colour for g, s in zip(got, samples)) / n
    return out


def save(controlnet, out: Path | str, report: dict) -> Path:
    """A diffusers folder (config.json, float16 safetensors) and ``training.json``."""
    out = Path(out)
    copy.deepcopy(controlnet).to(torch.float16).save_pretrained(out, safe_serialization=True)
    (out / "training.json").write_text(json.dumps(report, indent=2))
    return out


def load(folder: Path | str | None = None):
    """The shipped (or ``folder``'s) ControlNet, float32."""
    from diffusers import ControlNetModel

    return ControlNetModel.from_pretrained(str(folder or SHIPPED), dtype=torch.float32,
                                           local_files_only=True).eval()


def install(models_dir: Path | str, source: Path | str | None = None) -> Path:
    """Copy the shipped ControlNet into ``models_dir`` as ``ControlNet/sdxl-demo-shapes-canny/``
    (a diffusers folder); a complete copy already there is kept. ``config.json`` is copied
    last, so an interrupted copy never looks like a model (the next install redoes it)."""
    import shutil

    source = Path(source) if source is not None else SHIPPED
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"the demo ControlNet is not at {source} (a source checkout "
                                "ships it; `python -m webui.testing.demo_controlnet train` "
                                "remakes it)")
    target = Path(models_dir) / "ControlNet" / NAME
    if (target / "config.json").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("config.json"))
    shutil.copy2(source / "config.json", target / "config.json")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the demo ControlNet into a diffusers folder")
    t.add_argument("out")
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--steps", type=int, default=TrainConfig.steps)
    t.add_argument("--eval-every", type=int, default=0,
                   help="check shape/position accuracy every N steps (slower)")
    i = sub.add_parser("install", help=f"copy the shipped ControlNet into MODELS_DIR as "
                                       f"ControlNet/{NAME}/")
    i.add_argument("models_dir")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(install(args.models_dir))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = train(args.out, TrainConfig(seed=args.seed, steps=args.steps),
                   eval_every=args.eval_every)
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2))


if __name__ == "__main__":
    main()
