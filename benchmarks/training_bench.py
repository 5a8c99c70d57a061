"""LoRA training speed on the CPU: the app's trainer (``webui.training.LoraTraining``) on the
tiny random test model and on the shipped demo model (coloured shapes).

    python benchmarks/training_bench.py [--threads 1] [--steps 30] [--warmup 3] [--json OUT]

Each row runs in a process of its own (so its peak RSS is its own): the pipeline is built or
loaded, five pictures are cached (latents and, unless the text encoders train, the prompt
embeddings), then ``--warmup`` optimizer steps run before the clock starts and ``--steps``
timed ones after it. Prints one markdown table: steps/s, the seconds 100 steps take, the
caching time and the process's peak RSS. Batch 1, AdamW, no gradient checkpointing (the CPU
default). The GPU figure (SDXL at 1024²) is in ``benchmarks/gpu_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: (label, model, resolution, rank, conv rank, text encoders trained)
ROWS = [
    ("tiny random model, UNet only", "tiny", 64, 8, 0, False),
    ("tiny random model, LoCon (conv rank 8)", "tiny", 64, 8, 8, False),
    ("demo model, UNet only", "demo", 128, 8, 0, False),
    ("demo model, UNet + text encoders", "demo", 128, 8, 0, True),
]


def pipeline(model: str):
    if model == "tiny":
        from webui.testing.tiny_models import build_pipeline

        return build_pipeline("base", 1)
    from diffusers import StableDiffusionXLPipeline

    from webui.testing.demo_model import SHIPPED

    pipe = StableDiffusionXLPipeline.from_pretrained(str(SHIPPED), local_files_only=True,
                                                     add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pictures(model: str, size: int):
    """Five pictures of the kind the model knows: the demo's shapes, or smooth patterns."""
    import numpy as np
    from PIL import Image

    if model == "demo":
        import random

        from webui.testing import demo_data as dd

        rng = random.Random(0)
        return tuple(dd.render(dd.Sample("star", "green", "purple", p, "large"), rng)
                     for p in dd.POSITIONS)
    out = []
    for i in range(5):
        r = np.random.default_rng(i)
        y, x = np.mgrid[0:size, 0:size] / size
        c = r.uniform(0, 1, (3, 3))
        arr = np.stack([255 * c[k, 0] * (0.5 + 0.5 * np.sin(2 * np.pi * (x * (1 + 3 * c[k, 1])
                                                                          + y * 3 * c[k, 2])))
                        for k in range(3)], -1)
        out.append(Image.fromarray(arr.astype(np.uint8)))
    return tuple(out)


def measure_one(index: int, steps: int, warmup: int, threads: int) -> dict:
    """One row, in this process."""
    import resource
    import tempfile

    import torch

    from webui.training.spec import TrainingSpec, validate_spec
    from webui.training.trainer import LoraTraining

    torch.set_num_threads(threads)
    label, model, size, rank, conv, te = ROWS[index]
    t = time.perf_counter()
    pipe = pipeline(model)
    load_s = time.perf_counter() - t
    spec = validate_spec(TrainingSpec(
        name="bench", images=pictures(model, size), captions=("a photo of ohwx",) * 5,
        steps=warmup + steps, rank=rank, conv_rank=conv, resolution=size, batch_size=1,
        learning_rate=1e-4, train_text_encoders=te, seed=0), None)
    clock: list[float] = []
    with tempfile.TemporaryDirectory() as state:
        t = time.perf_counter()
        with LoraTraining(pipe, spec, state) as run:
            setup_s = time.perf_counter() - t
            run.train(progress=lambda s, n, loss: clock.append(time.perf_counter()),
                      resume=False)
    steps_s = steps / (clock[-1] - clock[warmup - 1]) if warmup else steps / (clock[-1] - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if platform.system() == "Darwin":
        rss /= 1024
    return {"row": label, "model": model, "resolution": size, "rank": rank, "conv_rank": conv,
            "text_encoders": te, "steps_per_s": steps_s, "s_per_100_steps": 100 / steps_s,
            "setup_s": setup_s, "load_s": load_s, "peak_rss_mib": rss / 1024,
            "timed_steps": steps, "warmup_steps": warmup, "threads": threads}


def table(results: list[dict], threads: int) -> str:
    lines = [f"| LoRA training on the CPU ({threads} thread{'s' if threads > 1 else ''}, "
             "batch 1, AdamW, rank 8) | size | steps/s | 100 steps (s) | caching 5 "
             "pictures (s) | peak RSS (MiB) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['row']} | {r['resolution']}² | {r['steps_per_s']:.2f} | "
                     f"{r['s_per_100_steps']:.1f} | {r['setup_s']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per row")
    ap.add_argument("--warmup", type=int, default=3, help="steps before the clock starts")
    ap.add_argument("--json", type=Path, metavar="OUT.json")
    ap.add_argument("--only", type=int, help=argparse.SUPPRESS)  # one row, in this process
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        ap.error("--steps and --warmup must be at least 1")
    if args.only is not None:
        print(json.dumps(measure_one(args.only, args.steps, args.warmup, args.threads)))
        return 0
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    results = []
    for i, row in enumerate(ROWS):
        print(f"[{row[0]}] ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--only", str(i), "--steps",
                               str(args.steps), "--warmup", str(args.warmup), "--threads",
                               str(args.threads)], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"training_bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end, "
          f"{args.warmup} warm-up + {args.steps} timed steps per row")
    print()
    print(table(results, args.threads))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
