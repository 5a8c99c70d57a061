"""GPU benchmark of the engine on full-size SDXL 1.0 with random weights (no download).

    python benchmarks/gpu_bench.py [--quick] [--json OUT.json] [--tmp DIR] [--budget S]
    python benchmarks/gpu_bench.py --tiny [--json OUT.json]     # CPU, tiny models (tests)

On a CUDA GPU it builds SDXL base 1.0, a fine-tune of it (same text encoders and VAE, another
UNet) and refiner 1.0 at full size from the configs the app ships (``webui/models/configs/``),
with random fp16 weights made on the GPU (random weights cost exactly as much time as real
ones), writes each once as a single ``.safetensors`` in Stability's key layout into a temp
models folder, with two random rank-16 LoRAs, and then measures everything through the app's
own code: ``ModelRegistry`` + ``ModelManager`` load the files, and every image is made by
``run_txt2img(manager, GenerationRequest(...))`` exactly as the app's queue runs a job.

It prints ONE markdown table (the same rows go to ``--json``): seconds per image and it/s at
1024x1024, 30 steps, for "Euler a" and "DPM++ 2M Karras", batch 1 and 4, eager and with
``--compile`` (``ModelManager(compile=True)``); base+refiner at switch 0.8; cold load vs cached
switch between two checkpoints; LoRA on / switch / off; VAE decode ms; peak VRAM; engine
overhead vs a bare diffusers call with the same inputs (interleaved runs); LoRA training
through the app's trainer (``webui.training.LoraTraining`` on the manager's base: 1024²,
rank 16, batch 1, gradient checkpointing, fp16 autocast; steps/s after warm-up steps, the
minutes 1000 steps take, peak VRAM). Then it runs the
model-placement sequence (``webui.testing.placement``) on CUDA (with ``--tiny`` on ``meta``,
its stand-in device) as assertions and prints its lines.

Timing: ``torch.cuda.synchronize()`` around every timed region, warm-up runs excluded,
medians. it/s counts denoising steps of the whole batch per second (as AUTOMATIC1111 shows
it), timed from the first to the last step callback of a job.

``--quick``: batch 1 only, no compile, fewer repeats (< 3 minutes on an H100-class GPU;
the full run < 8 minutes). Rows that would start after ``--budget`` seconds are skipped and
say so. ``--tiny``: the tiny test models on the CPU at 64x64 and 4 steps, the same code
paths and the same table/JSON rows (rows that need CUDA say "n/a"); the tests run it.
Exit status: 0 done, 1 a measurement failed or the placement check found a bug, 2 no CUDA
GPU (without ``--tiny``) or not enough disk space.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SAMPLERS = ("Euler a", "DPM++ 2M Karras")
BATCHES = (1, 4)
MODES = ("eager", "compile")
PROMPT = "a photo of a cat on a red sofa, soft window light, highly detailed"
NEGATIVE = "blurry, low quality"
SEED = 1
BASE, FINETUNE, REFINER = "bench-sdxl-base", "bench-sdxl-finetune", "bench-sdxl-refiner"
LORA_A, LORA_B = "bench-lora-a", "bench-lora-b"
LORA_RANK = 16
SWITCH_AT = 0.8
GIB = 2**30


def gen_row(sampler: str, batch: int, mode: str) -> str:
    return f"txt2img {sampler}, batch {batch}, {mode} (s/image)"


GEN_ROWS = [gen_row(s, b, m) for m in MODES for b in BATCHES for s in SAMPLERS]
ROW_COMPILE_WARMUP = "compile warm-up, first job (s)"
ROW_REFINER = f"base+refiner, switch at {SWITCH_AT}, batch 1 (s/image)"
ROW_REFINER_WEIGHTS = "base+refiner weights, shared modules once (GiB)"
ROW_SHA = "checkpoint sha256, first load only (s)"
ROW_COLD = "cold load from disk (s)"
ROW_SWITCH = "cached switch between two checkpoints (s)"
ROW_LORA_FIRST = "LoRA on, first use (s/job)"
ROW_LORA_SWITCH = "LoRA switch A to B (s/job)"
ROW_LORA_OFF = "LoRA off (s/job)"
ROW_LORA_ON = "LoRA on again, loaded (s/job)"
ROW_LORA_COMPILE = "LoRA switch A to B, compile (s/job)"
ROW_VAE = "VAE decode, one image (ms)"
ROW_ENGINE = "engine job, Euler a, batch 1 (s)"
ROW_BARE = "bare diffusers call, same inputs (s)"
ROW_OVERHEAD = "engine overhead vs bare diffusers (%)"
ROW_CONTROLNET = "txt2img + 1 ControlNet unit, Euler a, batch 1 (s/image)"
CONTROLNET = "bench-controlnet"
ROW_TRAIN = "LoRA training 1024², rank 16, batch 1, grad. checkpointing (steps/s)"
ROW_TRAIN_1000 = "LoRA training 1024², 1000 steps (min)"
ROW_TRAIN_PEAK = "LoRA training 1024², peak VRAM (GiB)"
TRAIN_ROWS = [ROW_TRAIN, ROW_TRAIN_1000, ROW_TRAIN_PEAK]
TRAIN_RANK = 16
TRAIN_IMAGES = 5
ROW_PEAK = "peak VRAM, whole run (GiB)"

ROW_NAMES = GEN_ROWS + [
    ROW_COMPILE_WARMUP, ROW_REFINER, ROW_REFINER_WEIGHTS, ROW_SHA, ROW_COLD, ROW_SWITCH,
    ROW_LORA_FIRST, ROW_LORA_SWITCH, ROW_LORA_OFF, ROW_LORA_ON, ROW_LORA_COMPILE, ROW_VAE,
    ROW_ENGINE, ROW_BARE, ROW_OVERHEAD, ROW_CONTROLNET, *TRAIN_ROWS, ROW_PEAK,
]

log = logging.getLogger("gpu_bench")


# -- results ---------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    value: float | None = None
    its: float | None = None  # denoising steps of the batch per second
    peak_gib: float | None = None
    note: str = "not run"

    @property
    def unit(self) -> str:
        return self.name.rsplit("(", 1)[-1].rstrip(")") if self.name.endswith(")") else ""

    def as_json(self) -> dict:
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "it_per_s": self.its, "peak_vram_gib": self.peak_gib, "note": self.note}


@dataclass
class Profile:
    """What a run measures: sizes, repeats, which rows."""

    name: str  # full | quick | tiny
    size: int
    steps: int
    reps: int  # timed runs per generation row
    batches: tuple[int, ...]
    compile: bool
    switch_reps: int
    vae_reps: int
    overhead_pairs: int
    budget_s: float | None
    train_size: int = 1024  # LoRA training resolution
    train_warmup: int = 5  # optimizer steps before the clock starts
    train_steps: int = 30  # timed optimizer steps

    @staticmethod
    def make(args) -> Profile:
        if args.tiny:
            p = Profile("tiny", size=64, steps=4, reps=1, batches=BATCHES, compile=False,
                        switch_reps=2, vae_reps=2, overhead_pairs=2, budget_s=None,
                        train_size=64, train_warmup=2, train_steps=6)
        elif args.quick:
            p = Profile("quick", size=1024, steps=30, reps=2, batches=(1,), compile=False,
                        switch_reps=2, vae_reps=3, overhead_pairs=2, budget_s=170.0,
                        train_warmup=3, train_steps=15)
        else:
            p = Profile("full", size=1024, steps=30, reps=3, batches=BATCHES, compile=True,
                        switch_reps=3, vae_reps=5, overhead_pairs=4, budget_s=450.0)
        if args.budget is not None:
            p.budget_s = args.budget if args.budget > 0 else None
        return p


@dataclass
class Bench:
    """Device, timing helpers and the rows measured so far."""

    profile: Profile
    cuda: bool
    device: str
    rows: dict[str, Row] = field(default_factory=lambda: {n: Row(n) for n in ROW_NAMES})
    errors: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    peaks: list[float] = field(default_factory=list)

    # timing --------------------------------------------------------------------------------
    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], object]) -> tuple[float, object]:
        """Seconds of ``fn()`` with the device idle before and finished after."""
        self.sync()
        t = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - t, out

    def reset_peak(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()

    def peak(self) -> float | None:
        if not self.cuda:
            return None
        import torch

        value = torch.cuda.max_memory_allocated() / GIB
        self.peaks.append(value)
        return value

    def elapsed(self) -> float:
        return time.perf_counter() - T0

    def has_time(self, need_s: float = 0.0) -> bool:
        budget = self.profile.budget_s
        return budget is None or self.elapsed() + need_s <= budget

    # rows ----------------------------------------------------------------------------------
    def set(self, name: str, value: float | None, its: float | None = None,
            peak: float | None = None, note: str = "") -> None:
        self.rows[name] = Row(name, value, its, peak, note)
        shown = "n/a" if value is None else f"{value:.4g}"
        say(f"{name}: {shown}" + (f" ({note})" if note else ""))

    def skip(self, names, note: str) -> None:
        for name in [names] if isinstance(names, str) else names:
            if self.rows[name].note == "not run":
                self.rows[name] = Row(name, note=note)

    def section(self, names, fn: Callable[[], None], need_s: float = 0.0) -> None:
        """Run one group of measurements; a failure is recorded, the run goes on."""
        names = [names] if isinstance(names, str) else list(names)
        if not self.has_time(need_s):
            self.skip(names, f"skipped: time budget ({self.profile.budget_s:.0f} s)")
            return
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other rows
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            self.errors.append(f"{', '.join(names)}: {msg}")
            traceback.print_exc()
            self.skip(names, f"error: {msg}")


def say(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.perf_counter() - T0:6.1f}s] {text}", file=sys.stderr, flush=True)


class NanCounter(logging.Handler):
    """Counts the engine's 'VAE decode gave NaN/inf' warnings: random weights that overflow
    would add a float32 re-decode and distort the timings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "NaN" in record.getMessage():
            self.count += 1


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# -- building the models ---------------------------------------------------------------------
def build_sdxl_modules(kind: str, device: str, dtype, seed: int, shared: dict | None = None):
    """Full-size SDXL modules with random weights from the shipped config folder of ``kind``
    (``sdxl-base`` or ``sdxl-refiner``), made directly on ``device`` (``cuda``; ``meta`` for a
    check without memory). ``shared`` supplies modules to reuse (text_encoder_2 and vae:
    a fine-tune or the refiner holds the base's own, as the real SDXL files do)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from webui.models.configs import config_dir

    folder = config_dir(kind)
    shared = dict(shared or {})
    out = {}
    with torch.device(device):
        torch.manual_seed(seed)
        out["unet"] = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(folder / "unet"))
        if "vae" not in shared:
            out["vae"] = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        if "text_encoder_2" not in shared:
            out["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2"))
        if "text_encoder" not in shared and (folder / "text_encoder").is_dir():
            out["text_encoder"] = CLIPTextModel(
                CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    for name, module in out.items():
        out[name] = module.to(dtype).eval().requires_grad_(False)
    out.update(shared)
    out.setdefault("text_encoder", None)
    return out


def lora_state_dict(unet, seed: int, rank: int = LORA_RANK, scale: float = 0.1) -> dict:
    """A random LoRA (diffusers/PEFT key style, ``unet.<module>.lora_A/B.weight``) over every
    attention projection of ``unet`` (to_q, to_k, to_v, to_out.0). Each projection's output
    moves by about ``scale`` of its input's size: visible, and no fp16 overflow."""
    import torch

    g = torch.Generator("cpu").manual_seed(seed)
    sd = {}
    for name, module in unet.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if not (".attn1." in name or ".attn2." in name):
            continue
        if not name.endswith((".to_q", ".to_k", ".to_v", ".to_out.0")):
            continue
        a = torch.randn(rank, module.in_features, generator=g) / math.sqrt(module.in_features)
        b = torch.randn(module.out_features, rank, generator=g) * (scale / math.sqrt(rank))
        sd[f"unet.{name}.lora_A.weight"] = a.to(torch.float16).contiguous()
        sd[f"unet.{name}.lora_B.weight"] = b.to(torch.float16).contiguous()
    if not sd:
        raise RuntimeError("no attention projections found for the LoRA")
    return sd


def write_loras(lora_dir: Path, unet) -> None:
    from safetensors.torch import save_file

    lora_dir.mkdir(parents=True, exist_ok=True)
    meta = {"ss_network_dim": str(LORA_RANK), "ss_network_alpha": str(LORA_RANK),
            "ss_base_model_version": "sdxl_base_v1-0"}
    for name, seed in ((LORA_A, 11), (LORA_B, 12)):
        save_file(lora_state_dict(unet, seed), lora_dir / f"{name}.safetensors", metadata=meta)


def prepare_full_size(models_dir: Path, device: str) -> None:
    """SDXL base, a fine-tune and the refiner at full size, fp16, each written once."""
    import torch

    from webui.testing.single_file_export import save_sdxl_single_file

    ckpt = models_dir / "Stable-diffusion"
    fp16 = torch.float16
    base = build_sdxl_modules("sdxl-base", device, fp16, seed=0)
    save_sdxl_single_file(SimpleNamespace(**base), ckpt / f"{BASE}.safetensors", dtype=fp16)
    say(f"wrote {BASE}")
    write_loras(models_dir / "Lora", base["unet"])
    shared = {k: base[k] for k in ("text_encoder", "text_encoder_2", "vae")}
    del base["unet"]
    tune = build_sdxl_modules("sdxl-base", device, fp16, seed=1, shared=shared)
    save_sdxl_single_file(SimpleNamespace(**tune), ckpt / f"{FINETUNE}.safetensors", dtype=fp16)
    say(f"wrote {FINETUNE}")
    del tune
    refiner = build_sdxl_modules("sdxl-refiner", device, fp16, seed=2, shared={
        "text_encoder_2": shared["text_encoder_2"], "vae": shared["vae"]})
    refiner["text_encoder"] = None
    save_sdxl_single_file(SimpleNamespace(**refiner), ckpt / f"{REFINER}.safetensors",
                          dtype=fp16)
    say(f"wrote {REFINER}")
    del refiner, shared, base
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    (models_dir / "VAE").mkdir(exist_ok=True)
    write_controlnet(models_dir, full_size_controlnet(device, fp16))
    say(f"wrote {CONTROLNET}")
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def full_size_controlnet(device: str, dtype):
    """A random SDXL ControlNet of the full size (``ControlNetModel.from_unet`` of the
    shipped SDXL base UNet config, built without that UNet's weights), its zero
    convolutions filled with small random values so the control adds something."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from webui.models.configs import config_dir

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(config_dir("sdxl-base") / "unet"))
    config = ControlNetModel.from_unet(unet, load_weights_from_unet=False).config
    with torch.device(device):
        torch.manual_seed(3)
        model = ControlNetModel.from_config(config)
    if device == "meta":  # the --tiny check of the builder: shapes only
        return model.to(dtype)
    g = torch.Generator(device).manual_seed(3)
    with torch.no_grad():
        for part in [*model.controlnet_down_blocks, model.controlnet_mid_block,
                     model.controlnet_cond_embedding.conv_out]:
            for p in part.parameters():
                p.copy_(torch.randn(p.shape, generator=g, device=p.device) * 0.01)
    return model.to(dtype).eval().requires_grad_(False)


def write_controlnet(models_dir: Path, model) -> None:
    model.save_pretrained(models_dir / "ControlNet" / CONTROLNET, safe_serialization=True)


def prepare_tiny(models_dir: Path) -> None:
    """The tiny SDXL architecture in the same roles: base, fine-tune (same text encoders and
    VAE, another UNet), refiner (sharing text_encoder_2 and VAE), written as single files."""
    from diffusers import StableDiffusionXLPipeline

    from webui.testing.tiny_models import build_pipeline, write_single_file

    ckpt = models_dir / "Stable-diffusion"
    base = build_pipeline("base", 1)
    write_single_file(base, ckpt / f"{BASE}.safetensors")
    tune = StableDiffusionXLPipeline(**{**base.components,
                                        "unet": build_pipeline("base", 2).unet},
                                     add_watermarker=False)
    write_single_file(tune, ckpt / f"{FINETUNE}.safetensors")
    write_single_file(build_pipeline("refiner", 1), ckpt / f"{REFINER}.safetensors")
    write_loras(models_dir / "Lora", base.unet)
    (models_dir / "VAE").mkdir(exist_ok=True)
    from webui.testing.tiny_controlnet import build_controlnet

    write_controlnet(models_dir, build_controlnet(base.unet))


def check_full_size_builder(bench: Bench) -> None:
    """--tiny: build the full-size modules on the meta device (no memory), so the GPU path's
    builder and the shipped configs are checked on every test run."""
    import torch

    base = build_sdxl_modules("sdxl-base", "meta", torch.float16, seed=0)
    refiner = build_sdxl_modules("sdxl-refiner", "meta", torch.float16, seed=2, shared={
        "text_encoder_2": base["text_encoder_2"], "vae": base["vae"]})
    n = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in base.items()}
    n["refiner unet"] = sum(p.numel() for p in refiner["unet"].parameters()) / 1e6
    lora = lora_state_dict(base["unet"], 11)  # needs only the layers' shapes
    n["LoRA"] = sum(t.numel() for t in lora.values()) / 1e6
    n["controlnet"] = sum(p.numel() for p in full_size_controlnet(
        "meta", torch.float16).parameters()) / 1e6
    if not (2500 < n["unet"] < 2650 and 2200 < n["refiner unet"] < 2300
            and 1200 < n["controlnet"] < 1300):
        raise AssertionError(f"full-size SDXL parameter counts look wrong: {n}")
    bench.meta["full_size_builder_check"] = {k: round(v, 1) for k, v in n.items()}
    say("full-size builder (meta device): " + ", ".join(f"{k} {v:.0f}M" for k, v in n.items()))


# -- the app's objects -----------------------------------------------------------------------
def make_manager(bench: Bench, models_dir: Path, hashes, **kw):
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    registry = ModelRegistry(models_dir / "Stable-diffusion", hash_cache=hashes)
    return ModelManager(registry, device=bench.device, cache="4", **kw)


def request(bench: Bench, **kw):
    from webui.request import GenerationRequest

    p = bench.profile
    fields = dict(prompt=PROMPT, negative_prompt=NEGATIVE, width=p.size, height=p.size,
                  steps=p.steps, cfg_scale=7.0, seed=SEED, sampler="Euler a", batch_size=1,
                  model=BASE)
    fields.update(kw)
    return GenerationRequest(**fields)


def step_clock(expected: int, sync: Callable[[], None]):
    """A JobProgress that times the denoising loop: synchronised at the first and the
    ``expected``-th step callback, so it/s = (expected - 1) / (t_last - t_first)."""
    from webui.engine.progress import JobProgress

    class StepClock(JobProgress):
        def __init__(self):
            super().__init__()
            self.t_first = self.t_last = None
            self.calls = 0

        def step(self) -> None:
            self.calls += 1
            if self.calls == 1 or self.calls == expected:
                sync()
                now = time.perf_counter()
                if self.calls == 1:
                    self.t_first = now
                else:
                    self.t_last = now
            super().step()

        def its(self) -> float | None:
            if self.calls != expected or self.t_first is None or self.t_last is None:
                return None
            return (expected - 1) / max(self.t_last - self.t_first, 1e-9)

    return StepClock()


def run_job(bench: Bench, manager, req, clock=None):
    """One job through the engine, as the app's queue runs it; checks it made its images."""
    from webui.engine.txt2img import run_txt2img

    result = run_txt2img(manager, req, clock) if clock is not None else run_txt2img(manager,
                                                                                      req)
    if result.interrupted or len(result.images) != req.batch_size * req.batch_count:
        raise RuntimeError(f"job made {len(result.images)} image(s), expected "
                           f"{req.batch_size * req.batch_count}")
    return result


@contextlib.contextmanager
def job_models(manager, name: str, sampler: str = "Euler a", refiner: str | None = None):
    """What a job of ``name`` runs with, ready on the device for the block: ``.pipe`` (a
    per-job pipeline view with the sampler's scheduler), ``.vae``, ``.base`` and ``.refiner``
    (the manager's cached checkpoints). Asked for as the engine asks: one
    ``manager.prepare(JobModels(...))``."""
    from webui.engine.samplers import make_scheduler

    def scheduler(config):
        return make_scheduler(sampler, config)

    from webui.models.bundle import JobModels

    job = JobModels(name, refiner=refiner, make_scheduler=scheduler)
    with manager.prepare(job) as bundle:
        yield SimpleNamespace(pipe=bundle.pipe, vae=bundle.vae, base=bundle.base,
                              refiner=bundle.refiner)


# -- measurements ----------------------------------------------------------------------------
class Runner:
    def __init__(self, bench: Bench, models_dir: Path, hashes):
        self.bench = bench
        self.models_dir = models_dir
        self.hashes = hashes
        self.cold: list[float] = []
        self.warm_batches: set[tuple[int, int]] = set()  # (manager id, batch) warmed up
        self.baseline_image = None

    # jobs ----------------------------------------------------------------------------------
    def jobs(self, manager, req, reps: int) -> tuple[float, float | None, float | None]:
        """Median seconds per job and it/s of ``reps`` timed jobs (after a warm-up job when
        this manager has not run this batch size yet), and the peak VRAM meanwhile."""
        b = self.bench
        b.reset_peak()
        key = (id(manager), req.batch_size)
        if key not in self.warm_batches:
            run_job(b, manager, req)
            self.warm_batches.add(key)
        times, its = [], []
        for _ in range(reps):
            clock = step_clock(req.steps, b.sync)
            dt, result = b.timed(lambda: run_job(b, manager, req, clock))
            times.append(dt)
            its.append(clock.its())
        self.last_result = result
        return statistics.median(times), _median(its) if None not in its else None, b.peak()

    def generation(self, manager, mode: str, sampler: str, batch: int) -> None:
        b = self.bench
        req = request(b, sampler=sampler, batch_size=batch)
        t, its, peak = self.jobs(manager, req, b.profile.reps)
        b.set(gen_row(sampler, batch, mode), t / batch, its, peak,
              f"median of {b.profile.reps}, {t:.3g} s/job")
        if mode == "eager" and batch == 1 and sampler == SAMPLERS[0]:
            self.baseline_job = t
            self.baseline_image = _pixels(self.last_result)

    # loads ---------------------------------------------------------------------------------
    def prehash(self) -> None:
        """sha256 of every checkpoint, as the app computes once per file (then cached), in
        parallel; cold loads below then time what a restart with known hashes does."""
        from webui.models.registry import ModelRegistry

        registry = ModelRegistry(self.models_dir / "Stable-diffusion", hash_cache=self.hashes)
        infos = [registry.get(n) for n in (BASE, FINETUNE, REFINER)]

        def one(info):
            t = time.perf_counter()
            registry.sha256(info)
            return time.perf_counter() - t

        with ThreadPoolExecutor(len(infos)) as pool:
            times = list(pool.map(one, infos))
        self.bench.set(ROW_SHA, statistics.median(times), note=f"median of {len(times)} "
                       "files hashed in parallel; cached after")

    def cold_load(self, manager, name: str) -> None:
        reads = getattr(manager, "loads_from_disk", None)
        dt, _ = self.bench.timed(lambda: manager.preload(name))
        if reads is not None and manager.loads_from_disk != reads + 1:
            raise AssertionError(f"loading {name} read {manager.loads_from_disk - reads} "
                                 "checkpoint files, expected 1")
        self.cold.append(dt)
        say(f"cold load of {name}: {dt:.3g} s")

    def report_cold(self) -> None:
        self.bench.set(ROW_COLD, _median(self.cold), note=f"median of {len(self.cold)}: "
                       "base into a fresh manager, then switching to the uncached fine-tune "
                       "(file in the OS page cache)")

    def cached_switch(self, manager) -> None:
        b = self.bench
        manager.preload(BASE)
        manager.preload(FINETUNE)
        reads = getattr(manager, "loads_from_disk", 0)
        times = []
        for _ in range(b.profile.switch_reps):
            for name in (BASE, FINETUNE):
                dt, _ = b.timed(lambda: manager.preload(name))
                times.append(dt)
        if getattr(manager, "loads_from_disk", 0) != reads:
            raise AssertionError("a cached switch read a checkpoint file again")
        speedup = (_median(self.cold) or 0) / max(statistics.median(times), 1e-9)
        b.set(ROW_SWITCH, statistics.median(times),
              note=f"median of {len(times)} (manager.preload, no file read); "
              f"{speedup:.0f}x faster than the cold load")

    # VAE -----------------------------------------------------------------------------------
    def vae_decode(self, manager) -> None:
        import torch

        from webui.engine.core import decode_latents

        b = self.bench
        side = b.profile.size // 8
        latents = torch.randn(1, 4, side, side, generator=torch.Generator("cpu").manual_seed(1))
        with job_models(manager, BASE) as job:
            pipe, vae = job.pipe, job.vae
            latents = latents.to(vae.device, next(vae.parameters()).dtype)
            b.reset_peak()
            decode_latents(pipe, vae, latents)  # warm-up
            times = [b.timed(lambda: decode_latents(pipe, vae, latents))[0]
                     for _ in range(b.profile.vae_reps)]
        upcast = getattr(vae.config, "force_upcast", False) and vae.dtype == torch.float16
        b.set(ROW_VAE, statistics.median(times) * 1000, peak=b.peak(),
              note=f"median of {len(times)}; {vae.dtype}".replace("torch.", "")
              + (", upcast to float32 (force_upcast)" if upcast else ""))

    # engine vs bare diffusers ---------------------------------------------------------------
    def overhead(self, manager) -> None:
        import torch

        b = self.bench
        req = request(b)

        def bare() -> float:
            """The diffusers call alone (not the manager's preparation), on the modules and
            per-job pipeline view a job of ``req`` gets."""
            with job_models(manager, BASE, req.sampler) as job:
                def call():
                    with torch.inference_mode():
                        return job.pipe(
                            prompt=PROMPT, negative_prompt=NEGATIVE, width=req.width,
                            height=req.height, num_inference_steps=req.steps,
                            guidance_scale=req.cfg_scale,
                            generator=[torch.Generator("cpu").manual_seed(SEED)],
                            output_type="pil").images
                return b.timed(call)[0]

        b.reset_peak()
        run_job(b, manager, req)
        bare()  # warm-up of both
        t_engine, t_bare = [], []
        for _ in range(b.profile.overhead_pairs):  # interleaved: drift hits both alike
            t_engine.append(b.timed(lambda: run_job(b, manager, req))[0])
            t_bare.append(bare())
        e, r = statistics.median(t_engine), statistics.median(t_bare)
        n = b.profile.overhead_pairs
        peak = b.peak()
        b.set(ROW_ENGINE, e, peak=peak, note=f"median of {n}, interleaved with the bare call")
        b.set(ROW_BARE, r, note=f"median of {n}; pipe(prompt=...) on the same modules, "
              "same size, steps, CFG, sampler and seed; its own prompt encoding and decode")
        b.set(ROW_OVERHEAD, (e / r - 1) * 100, note="(engine / bare - 1) x 100")

    # ControlNet ----------------------------------------------------------------------------
    def controlnet(self, manager) -> None:
        """One ControlNet unit (a canny-style map of a square, module none, weight 1) at the
        profile's size: the ControlNet runs beside the UNet at every step."""
        from PIL import Image, ImageDraw

        from webui.controlnet.units import ControlUnit

        b = self.bench
        size = b.profile.size
        hint = Image.new("RGB", (size, size))
        ImageDraw.Draw(hint).rectangle((size // 4, size // 4, 3 * size // 4, 3 * size // 4),
                                       outline="white", width=max(1, size // 128))
        req = request(b, control_units=(ControlUnit(image=hint, module="none",
                                                    model=CONTROLNET),))
        t, its, peak = self.jobs(manager, req, b.profile.reps)
        base = getattr(self, "baseline_job", None)
        rel = f"; {(t / base - 1) * 100:+.0f}% vs the same job without a unit" if base else ""
        b.set(ROW_CONTROLNET, t, its, peak, f"median of {b.profile.reps}, random full-size "
              f"SDXL ControlNet (1.25B parameters){rel}" if b.cuda else
              f"median of {b.profile.reps}, tiny ControlNet{rel}")

    # LoRA ----------------------------------------------------------------------------------
    def lora(self, manager) -> None:
        b = self.bench
        reps = b.profile.reps
        with_a = request(b, prompt=f"{PROMPT} <lora:{LORA_A}:1>")
        with_b = request(b, prompt=f"{PROMPT} <lora:{LORA_B}:1>")
        without = request(b)
        base_job = getattr(self, "baseline_job", None)

        def extra(t):
            return f"{t - base_job:+.3g} s vs a job without LoRA" if base_job else ""

        b.reset_peak()
        t_first, result = b.timed(lambda: run_job(b, manager, with_a))
        changed = ""
        if self.baseline_image is not None:
            same = _pixels(result) == self.baseline_image
            changed = "; image changed by the LoRA" if not same else \
                "; WARNING: image identical to the one without LoRA"
        b.set(ROW_LORA_FIRST, t_first, peak=b.peak(),
              note=f"one run, reads the file; {extra(t_first)}{changed}")
        run_job(b, manager, with_b)  # first use of B, not timed
        switch = []
        for _ in range(reps):
            for req in (with_a, with_b):
                switch.append(b.timed(lambda: run_job(b, manager, req))[0])
        t = statistics.median(switch)
        b.set(ROW_LORA_SWITCH, t, note=f"median of {len(switch)}; {extra(t)}")
        off, on = [], []
        for _ in range(reps):
            off.append(b.timed(lambda: run_job(b, manager, without))[0])
            on.append(b.timed(lambda: run_job(b, manager, with_a))[0])
        b.set(ROW_LORA_OFF, statistics.median(off),
              note=f"median of {reps}, each after a job with LoRA; "
              f"{extra(statistics.median(off))}")
        b.set(ROW_LORA_ON, statistics.median(on),
              note=f"median of {reps}, each after a job without; {extra(statistics.median(on))}")
        run_job(b, manager, without)  # leave the base as it was

    def lora_compiled(self, manager) -> None:
        b = self.bench
        with_a = request(b, prompt=f"{PROMPT} <lora:{LORA_A}:1>")
        with_b = request(b, prompt=f"{PROMPT} <lora:{LORA_B}:1>")
        t_first, _ = b.timed(lambda: run_job(b, manager, with_a))
        t_b, _ = b.timed(lambda: run_job(b, manager, with_b))
        switch = []
        for _ in range(max(1, b.profile.reps - 1)):
            for req in (with_a, with_b):
                switch.append(b.timed(lambda: run_job(b, manager, req))[0])
        b.set(ROW_LORA_COMPILE, statistics.median(switch),
              note=f"median of {len(switch)}; first use of A {t_first:.3g} s, of B "
              f"{t_b:.3g} s (a recompile shows here)")
        run_job(b, manager, request(b))

    # LoRA training ---------------------------------------------------------------------------
    def training(self) -> None:
        """The app's trainer on the base as the model manager holds it (a fresh manager, so
        the peak is the base and training alone): ``TRAIN_IMAGES`` random pictures at the
        profile's training size, rank 16, batch 1, gradient checkpointing on; steps/s over
        the timed steps after the warm-up ones (the clock synchronised at each step)."""
        import numpy as np
        from PIL import Image

        from webui.training.spec import TrainingSpec, validate_spec
        from webui.training.trainer import LoraTraining

        b = self.bench
        p = b.profile
        size = p.train_size
        images = tuple(Image.fromarray(np.random.default_rng(i).integers(
            0, 256, (size, size, 3), dtype=np.uint8)) for i in range(TRAIN_IMAGES))
        spec = validate_spec(TrainingSpec(
            name="bench-training", images=images, steps=p.train_warmup + p.train_steps,
            rank=TRAIN_RANK, resolution=size, batch_size=1, learning_rate=1e-4, seed=SEED),
            None)
        manager = make_manager(b, self.models_dir, self.hashes)
        clock: list[float] = []

        def progress(step, total, loss):
            b.sync()
            clock.append(time.perf_counter())

        try:
            with job_models(manager, BASE) as job:
                pipe = job.base.pipe
                b.sync()
                allocated = torch_allocated_gib() if b.cuda else None
                b.reset_peak()
                t0 = time.perf_counter()
                with LoraTraining(pipe, spec, self.models_dir.parent / "training-state",
                                  gradient_checkpointing=True) as run:
                    setup = time.perf_counter() - t0
                    outcome = run.train(progress=progress, resume=False)
                    mode = {"checkpointing": run.checkpointing, "optimizer": outcome.optimizer,
                            "dtype": str(run.dtype).replace("torch.", ""),
                            "scaler": run.scaler is not None}
                peak = b.peak()
        finally:
            release(b, manager)
        if len(clock) != spec.steps:
            raise RuntimeError(f"training ran {len(clock)} of {spec.steps} steps")
        # random fp16 weights may overflow now and then: the scaler skips such a step (it
        # costs the same time), so it is only counted
        bad = sum(not math.isfinite(x) for x in outcome.losses)
        steps_s = p.train_steps / max(clock[-1] - clock[p.train_warmup - 1], 1e-9)
        b.meta["training"] = dict(mode, size=size, images=TRAIN_IMAGES, rank=TRAIN_RANK,
                                  warmup=p.train_warmup, timed=p.train_steps,
                                  setup_s=round(setup, 2), nonfinite_losses=bad)
        what = (f"{p.train_steps} steps after {p.train_warmup} warm-up; {size}² "
                f"{'' if size == 1024 else '(tiny model) '}{mode['dtype']}, "
                f"{mode['optimizer']}{', GradScaler' if mode['scaler'] else ''}, UNet only; "
                f"caching {TRAIN_IMAGES} pictures {setup:.3g} s"
                + (f"; {bad} step(s) with a non-finite loss" if bad else ""))
        b.set(ROW_TRAIN, steps_s, peak=peak, note=what)
        b.set(ROW_TRAIN_1000, 1000 / steps_s / 60, note="1000 / steps per second; "
              "target on one H100: <= 10 min")
        if b.cuda:
            b.set(ROW_TRAIN_PEAK, peak, peak=peak,
                  note="max_memory_allocated from caching to the last step; "
                  f"{allocated:.3g} GiB held before (the base's weights)")
        else:
            b.skip(ROW_TRAIN_PEAK, "n/a (needs CUDA)")

    # refiner -------------------------------------------------------------------------------
    def refiner(self, manager) -> None:
        b = self.bench
        req = request(b, refiner=REFINER, refiner_switch_at=SWITCH_AT)
        b.reset_peak()
        t_load, _ = b.timed(lambda: run_job(b, manager, req))  # loads the refiner: warm-up
        times = [b.timed(lambda: run_job(b, manager, req))[0] for _ in range(b.profile.reps)]
        b.set(ROW_REFINER, statistics.median(times), peak=b.peak(),
              note=f"median of {len(times)}; both passes, {b.profile.steps} steps in all; "
              f"first job {t_load:.3g} s (loads the refiner)")
        names = ("unet", "vae", "text_encoder", "text_encoder_2")
        with job_models(manager, BASE, refiner=REFINER) as job:
            base, ref = job.base.pipe, job.refiner.pipe
            allocated = torch_allocated_gib() if b.cuda else None
            modules = {id(m): m for p in (base, ref) for n in names
                       if (m := getattr(p, n, None)) is not None}
            nbytes = sum(t.numel() * t.element_size() for m in modules.values()
                         for t in m.state_dict().values())
            alone = sum(t.numel() * t.element_size() for p in (base, ref) for n in names
                        if getattr(p, n, None) is not None
                        for t in getattr(p, n).state_dict().values())
            shared = [n for n in ("text_encoder_2", "vae") if getattr(base, n) is getattr(ref, n)]
        note = (f"shared: {', '.join(shared) or 'NONE'}; {alone / GIB:.3g} GiB if each held "
                "its own")
        if allocated is not None:
            note += f"; {allocated:.3g} GiB allocated on the GPU during the job"
        b.set(ROW_REFINER_WEIGHTS, nbytes / GIB, note=note)

    # compile -------------------------------------------------------------------------------
    def compiled(self) -> None:
        b = self.bench
        compile_rows = [gen_row(s, n, "compile") for n in b.profile.batches for s in SAMPLERS]
        compile_rows += [ROW_COMPILE_WARMUP, ROW_LORA_COMPILE]
        if not b.profile.compile:
            why = "skipped (--quick)"
            if b.profile.name == "tiny":
                # the keyword is checked; torch.compile itself is too slow on a CPU
                make_manager(b, self.models_dir, self.hashes, compile=True)
                why = "n/a (--tiny: torch.compile is not run on the CPU)"
            b.skip(compile_rows, why)
            return
        manager = make_manager(b, self.models_dir, self.hashes, compile=True)
        b.section(ROW_COLD, lambda: self.cold_load(manager, BASE))
        req = request(b)

        def warmup():
            b.reset_peak()
            t, _ = b.timed(lambda: run_job(b, manager, req))
            self.warm_batches.add((id(manager), 1))
            b.set(ROW_COMPILE_WARMUP, t, peak=b.peak(), note="first job, batch 1: "
                  "includes torch.compile")

        b.section(ROW_COMPILE_WARMUP, warmup, need_s=60)
        for sampler in SAMPLERS:
            b.section(gen_row(sampler, 1, "compile"),
                      lambda: self.generation(manager, "compile", sampler, 1), need_s=15)
        b.section(ROW_LORA_COMPILE, lambda: self.lora_compiled(manager), need_s=30)
        if 4 in b.profile.batches:
            for sampler in SAMPLERS:
                b.section(gen_row(sampler, 4, "compile"),
                          lambda: self.generation(manager, "compile", sampler, 4), need_s=60)
        b.skip(compile_rows, "skipped: time budget")
        manager.unload()


def torch_allocated_gib() -> float:
    import torch

    return torch.cuda.memory_allocated() / GIB


def _pixels(result) -> bytes | None:
    try:
        return result.images[0].image.tobytes()
    except (AttributeError, IndexError):
        return None


def release(bench: Bench, *objs) -> None:
    for o in objs:
        if hasattr(o, "unload"):
            o.unload()
    gc.collect()
    if bench.cuda:
        import torch

        torch.cuda.empty_cache()


# -- placement check -------------------------------------------------------------------------
def placement_check(bench: Bench, folder: Path) -> tuple[str, list[str]]:
    """``webui.testing.placement.run_placement_sequence`` with the tiny models, on CUDA (on
    ``meta``, its stand-in device, with --tiny): after each job of a sequence that shares
    modules every way SDXL checkpoints do, exactly the job's modules are on the device."""
    from webui.testing import placement

    write_models = placement.write_sequence_models
    device = "cuda" if bench.cuda else "meta"
    say(f"placement check on {device}")
    try:
        write_models(folder)
        lines = list(placement.run_placement_sequence(folder, device))
    except AssertionError as exc:
        return "FAILED", [f"AssertionError: {exc}"]
    except Exception as exc:  # noqa: BLE001 - the check could not run: an error, not a pass
        traceback.print_exc()
        bench.errors.append(f"placement check: {type(exc).__name__}: {exc}"[:300])
        return "error", [f"{type(exc).__name__}: {exc}"]
    return f"ok on {device}", [str(line) for line in lines]


# -- output ----------------------------------------------------------------------------------
def fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def table(bench: Bench) -> str:
    p = bench.profile
    head = (f"| measurement ({bench.meta['device_name']}, {bench.meta['dtype']}, "
            f"{p.size}x{p.size}, {p.steps} steps) | value | it/s | peak VRAM (GiB) | note |")
    lines = [head, "| --- | --- | --- | --- | --- |"]
    for row in bench.rows.values():
        its = fmt(row.its) if row.its is not None else (
            "n/a" if row.name in GEN_ROWS else "-")
        peak = fmt(row.peak_gib) if row.peak_gib is not None else (
            "n/a" if not bench.cuda else "-")
        lines.append(f"| {row.name} | {fmt(row.value)} | {its} | {peak} | "
                     f"{row.note.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="batch 1 only, no compile, fewer repeats (< 3 min on an H100)")
    ap.add_argument("--tiny", action="store_true",
                    help="CPU, tiny models, 64x64, 4 steps: checks the code paths (tests)")
    ap.add_argument("--json", type=Path, metavar="OUT.json", help="also write the rows here")
    ap.add_argument("--tmp", type=Path, help="folder for the temp models (needs ~24 GB "
                    "free for the full-size checkpoints); default: the system temp folder")
    ap.add_argument("--budget", type=float, help="seconds after which rows not started are "
                    "skipped (default 450, --quick 170, --tiny none; 0 = no limit)")
    args = ap.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("gpu_bench: no CUDA GPU found. This benchmark measures full-size SDXL on an "
              "NVIDIA GPU; on a CPU run it with --tiny (tiny models, checks the code paths).",
              file=sys.stderr)
        return 2
    profile = Profile.make(args)
    device = "cpu" if args.tiny else "cuda"
    bench = Bench(profile, cuda=device == "cuda", device=device)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    for lib in (dlog, tlog):  # per-load chatter and progress bars would bury the results
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    nan = NanCounter()
    logging.getLogger().addHandler(nan)
    import diffusers

    bench.meta.update(
        mode=profile.name, device=device, size=profile.size, steps=profile.steps,
        device_name=torch.cuda.get_device_name() if bench.cuda else "cpu",
        dtype="fp16" if bench.cuda else "fp32", torch=torch.__version__,
        diffusers=diffusers.__version__, samplers=list(SAMPLERS), lora_rank=LORA_RANK)

    tmp_parent = args.tmp or Path(tempfile.gettempdir())
    tmp_parent.mkdir(parents=True, exist_ok=True)
    if not args.tiny:
        free = shutil.disk_usage(tmp_parent).free
        if free < 27 * GIB:
            print(f"gpu_bench: {tmp_parent} has {free / GIB:.1f} GiB free; the three "
                  "full-size checkpoints and the ControlNet need about 24 GiB. Use --tmp "
                  "DIR.", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="gpu_bench-", dir=tmp_parent))
    status, placement_lines = "not run", []
    try:
        models_dir = tmp / "models"
        t = time.perf_counter()
        if args.tiny:
            check_full_size_builder(bench)
            prepare_tiny(models_dir)
        else:
            prepare_full_size(models_dir, device)
        bench.meta["prepare_s"] = round(time.perf_counter() - t, 2)
        say(f"checkpoints written in {bench.meta['prepare_s']} s")
        # first, so a placement bug shows even if a later row runs out of time
        status, placement_lines = placement_check(bench, tmp / "placement-models")
        release(bench)
        measure(bench, models_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    bench.meta["elapsed_s"] = round(bench.elapsed(), 1)
    bench.meta["nan_redecodes"] = nan.count
    print(f"gpu_bench {profile.name}: {bench.meta['device_name']}, torch "
          f"{bench.meta['torch']}, diffusers {bench.meta['diffusers']}, "
          f"{bench.meta['elapsed_s']} s in all")
    print()
    print(table(bench))
    print()
    if nan.count:
        print(f"WARNING: {nan.count} VAE decode(s) gave NaN/inf and were decoded again in "
              "float32 (random weights overflowed); decode-heavy rows are pessimistic.")
    print(f"placement check: {status}")
    for line in placement_lines:
        print(f"  {line}")
    for err in bench.errors:
        print(f"ERROR {err}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "meta": bench.meta,
            "rows": [r.as_json() for r in bench.rows.values()],
            "values": {r.name: r.value for r in bench.rows.values()},
            "placement": {"status": status, "lines": placement_lines},
            "errors": bench.errors,
        }, indent=2))
    return 1 if bench.errors or status == "FAILED" else 0


def measure(bench: Bench, models_dir: Path) -> None:
    from webui.models.registry import HashCache

    p = bench.profile
    hashes = HashCache()  # in memory, shared by every manager of this run
    r = Runner(bench, models_dir, hashes)
    bench.section(ROW_SHA, r.prehash)
    manager = make_manager(bench, models_dir, hashes)
    bench.section(ROW_COLD, lambda: r.cold_load(manager, BASE))
    bench.section(ROW_VAE, lambda: r.vae_decode(manager))
    for sampler in SAMPLERS:
        bench.section(gen_row(sampler, 1, "eager"),
                      lambda: r.generation(manager, "eager", sampler, 1), need_s=10)
    bench.section([ROW_ENGINE, ROW_BARE, ROW_OVERHEAD], lambda: r.overhead(manager), need_s=10)
    bench.section(ROW_CONTROLNET, lambda: r.controlnet(manager), need_s=15)
    bench.section([ROW_LORA_FIRST, ROW_LORA_SWITCH, ROW_LORA_OFF, ROW_LORA_ON],
                  lambda: r.lora(manager), need_s=15)
    bench.section(ROW_SWITCH, lambda: (r.cold_load(manager, FINETUNE),
                                       r.cached_switch(manager)), need_s=20)
    bench.section([ROW_REFINER, ROW_REFINER_WEIGHTS], lambda: r.refiner(manager), need_s=20)
    if 4 in p.batches:
        for sampler in SAMPLERS:
            bench.section(gen_row(sampler, 4, "eager"),
                          lambda: r.generation(manager, "eager", sampler, 4), need_s=30)
    else:
        bench.skip([gen_row(s, 4, m) for s in SAMPLERS for m in MODES], "skipped (--quick)")
    if r.cold:
        r.report_cold()
    release(bench, manager)
    manager = None  # the last reference: its modules can go
    release(bench)
    bench.section(TRAIN_ROWS, r.training, need_s=45)
    bench.section(GEN_ROWS[len(SAMPLERS) * len(BATCHES):] + [ROW_COMPILE_WARMUP,
                                                               ROW_LORA_COMPILE], r.compiled,
                  need_s=150)
    if r.cold:
        r.report_cold()
    if bench.cuda:
        bench.set(ROW_PEAK, max(bench.peaks) if bench.peaks else None,
                  peak=max(bench.peaks) if bench.peaks else None,
                  note="torch.cuda.max_memory_allocated, highest of all rows")
    else:
        bench.skip(ROW_PEAK, "n/a (needs CUDA)")
    for row in bench.rows.values():
        if row.note == "not run":
            row.note = "skipped"


if __name__ == "__main__":
    sys.exit(main())
