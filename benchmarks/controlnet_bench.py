"""What a ControlNet unit costs per denoising step on the CPU, relative to no unit: the
engine's txt2img on the tiny SDXL test model with the tiny ControlNets and IP-Adapter
(``webui.testing.tiny_controlnet``).

    python benchmarks/controlnet_bench.py [--size 128] [--steps 8] [--reps 3] [--threads 1]
                                          [--json OUT]

Per-step time is measured by the step callback (first to last step of the denoising loop),
so the fixed costs of a job (prompt encoding, VAE decode, preprocessing) are left out; they
are shown apart as the whole job's time. Each figure is the best of ``--reps`` runs (other
processes on a shared CPU only ever add time), the median beside it. The GPU figure (SDXL at 1024²) is a row of
``benchmarks/gpu_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: (label, units as (model, module, image kind))
ROWS = [
    ("no unit", ()),
    ("1 ControlNet unit", (("tiny-controlnet", "none", "square"),)),
    ("1 ControlNet unit, canny preprocessor", (("tiny-controlnet", "canny", "square"),)),
    ("2 ControlNet units", (("tiny-controlnet", "none", "square"),
                            ("tiny-controlnet-file", "none", "circle"))),
    ("3 ControlNet units", (("tiny-controlnet", "none", "square"),
                            ("tiny-controlnet-file", "none", "circle"),
                            ("tiny-controlnet", "none", "circle"))),
    ("1 ControlNet Union unit", (("tiny-controlnet-union", "canny", "square"),)),
    ("1 IP-Adapter unit", (("tiny-ip-adapter", "ip-adapter_clip_sdxl", "square"),)),
]


def picture(kind: str, size: int):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    (draw.rectangle if kind == "square" else draw.ellipse)(box, fill="white")
    return img


def make_job(manager, units, size: int, steps: int):
    """A callable running one job of ``units``; returns (s per step, s per job)."""
    from webui.controlnet.units import ControlUnit
    from webui.engine.progress import JobProgress
    from webui.engine.txt2img import run_txt2img
    from webui.request import GenerationRequest

    class Clock(JobProgress):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def step(self):
            self.times.append(time.perf_counter())
            super().step()

    req = GenerationRequest(
        prompt="a photo of a cat", width=size, height=size, steps=steps, seed=1,
        sampler="Euler", model="tiny-sdxl-a",
        control_units=tuple(ControlUnit(image=picture(kind, size), model=model,
                                        module=module) for model, module, kind in units))
    def job():
        clock = Clock()
        t = time.perf_counter()
        run_txt2img(manager, req, clock)
        return ((clock.times[-1] - clock.times[0]) / (len(clock.times) - 1),
                time.perf_counter() - t)

    return job


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: "
                    "steady figures on a shared machine)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import logging

    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.ERROR)
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    for lib in (dlog, tlog):
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry
    from webui.testing.tiny_controlnet import write_tiny_control_models
    from webui.testing.tiny_models import write_tiny_models

    with tempfile.TemporaryDirectory(prefix="controlnet_bench-") as tmp:
        root = Path(tmp)
        write_tiny_models(root)
        write_tiny_control_models(root)
        manager = ModelManager(ModelRegistry(root / "Stable-diffusion"), device="cpu")
        jobs = [make_job(manager, units, args.size, args.steps) for _, units in ROWS]
        for job in jobs:
            job()  # warm-up: loads what the row needs
        runs: list[list[tuple[float, float]]] = [[] for _ in ROWS]
        for rep in range(args.reps):  # rows interleaved: a busy spell hits them alike
            for i, job in enumerate(jobs):
                runs[i].append(job())
            print(f"round {rep + 1} of {args.reps} done", file=sys.stderr)
        # the best of the runs: other processes on a shared CPU only ever add time
        results = [{"row": label, "step_s": min(s for s, _ in r),
                    "step_median_s": statistics.median(s for s, _ in r),
                    "job_s": min(j for _, j in r)} for (label, _), r in zip(ROWS, runs)]
    base = results[0]["step_s"]
    cpu = platform.processor() or platform.machine()
    print(f"ControlNet cost per step, tiny SDXL models, CPU ({cpu}, {args.threads} torch "
          f"thread(s)), {args.size}x{args.size}, "
          f"{args.steps} steps, Euler, CFG 7, best of {args.reps}")
    print()
    print("| units | ms / step | x no unit | ms / step, median | job (s) |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['row']} | {r['step_s'] * 1000:.1f} | {r['step_s'] / base:.2f} | "
              f"{r['step_median_s'] * 1000:.1f} | {r['job_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "steps": args.steps,
                                         "threads": args.threads, "rows": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
