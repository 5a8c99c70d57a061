"""Model manager benchmark: prints a table of load/switch/LoRA timings, memory and overhead.

    python benchmarks/models_bench.py [--models-dir DIR]

Without --models-dir it builds the tiny test models in a temp folder and runs on the CPU.
With a CUDA GPU and a models folder holding SDXL base + refiner, point --models-dir at it
and pass --base/--refiner names (and --size 1024) to measure SDXL-size numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _manager(models_dir: Path, cache: str = "4"):
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    return ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), cache=cache)


def _req(**kw):
    from webui.request import GenerationRequest

    return GenerationRequest(**{"prompt": "a photo of a cat", "steps": 4, "seed": 1,
                                "sampler": "Euler", "model": "tiny-sdxl-a", **kw})


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_switching(models_dir: Path, a: str, b: str, lora: str | None, size: int) -> dict:
    from webui.engine.txt2img import run_txt2img

    out = {}
    # cold: a fresh manager each time reads the checkpoint from disk
    out["cold load from disk (s)"] = timed(lambda: _manager(models_dir).preload(a), 3)
    m = _manager(models_dir)
    m.preload(a)
    m.preload(b)

    def switch():
        m.preload(a)
        m.preload(b)

    out["switch to cached checkpoint (s)"] = timed(switch, 10) / 2
    out["cached switch speed-up (x)"] = out["cold load from disk (s)"] / max(
        out["switch to cached checkpoint (s)"], 1e-9)
    if lora:
        from webui.models.bundle import JobModels

        def use(loras):
            with m.prepare(JobModels(a, loras=tuple(loras))):
                pass

        use([(lora, 1.0)])

        def lora_switch():
            use([(lora, 1.0)])
            use([])

        out["LoRA on/off switch (s)"] = timed(lora_switch, 10) / 2
        out["base reload instead (s)"] = out["cold load from disk (s)"]
    # generation through the manager vs a bare diffusers call on the same pipeline
    lm = m.preload(a)
    req = _req(model=a, width=size, height=size)
    run_txt2img(m, req)  # warm-up

    import torch

    from webui.engine.samplers import make_scheduler

    pipe = lm.pipe
    pipe.scheduler = make_scheduler("Euler", lm.scheduler_config)

    def bare():
        pipe(prompt=["a photo of a cat"], negative_prompt=[""], width=size, height=size,
             num_inference_steps=4, guidance_scale=7.0,
             generator=[torch.Generator("cpu").manual_seed(1)], output_type="pil")

    bare()
    # interleaved, so a busy machine slows both alike
    t_m, t_b = [], []
    for _ in range(7):
        t_m.append(timed(lambda: run_txt2img(m, _req(model=a, width=size, height=size)), 1))
        t_b.append(timed(bare, 1))
    t_manager, t_bare = statistics.median(t_m), statistics.median(t_b)
    out["generation via manager (s)"] = t_manager
    out["bare diffusers call (s)"] = t_bare
    out["manager / bare (x)"] = t_manager / t_bare
    return out


_RSS_CHILD = """
import gc, sys, psutil; sys.path.insert(0, {root!r})
from pathlib import Path
from benchmarks.models_bench import _manager
warm = _manager(Path({models!r}))  # first load pulls in library code: not model memory
warm._get(warm.registry.get({warm!r})); warm.unload(); del warm
m = _manager(Path({models!r}))
gc.collect(); before = psutil.Process().memory_info().rss
names = {names!r}
base = m._get(m.registry.get(names[0]))
for n in names[1:]: m._get(m.registry.get(n))
gc.collect(); print(psutil.Process().memory_info().rss - before)
"""


def _rss_delta_child(models_dir: Path, names: list[str], warm: str) -> int:
    """RSS growth (bytes) of a fresh process loading ``names`` through the manager."""
    code = _RSS_CHILD.format(root=str(ROOT), models=str(models_dir), names=names, warm=warm)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1])


def bench_memory(models_dir: Path, base: str, refiner: str, warm: str) -> dict:
    """RSS of base+refiner resident together vs the sum of loading each alone: the shared
    text_encoder_2 and VAE are held once."""
    mib = 2**20
    only_base = _rss_delta_child(models_dir, [base], warm) / mib
    only_refiner = _rss_delta_child(models_dir, [refiner], warm) / mib
    both = _rss_delta_child(models_dir, [base, refiner], warm) / mib
    return {"RSS base alone (MiB)": only_base,
            "RSS refiner alone (MiB)": only_refiner,
            "sum of both alone (MiB)": only_base + only_refiner,
            "RSS base+refiner resident together (MiB)": both}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--base", default="tiny-sdxl-a")
    p.add_argument("--other", default="tiny-sdxl-b")
    p.add_argument("--refiner", default="tiny-sdxl-refiner")
    p.add_argument("--lora", default="tiny-lora-a")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args()
    models_dir = args.models_dir
    if models_dir is None:
        from webui.testing.tiny_models import write_tiny_models

        models_dir = Path(tempfile.mkdtemp()) / "models"
        write_tiny_models(models_dir)
    results = bench_switching(models_dir, args.base, args.other, args.lora, args.size)
    results.update(bench_memory(models_dir, args.base, args.refiner, args.other))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"| metric ({device}, {args.size}px, 4 steps) | value |")
    print("| --- | --- |")
    for k, v in results.items():
        print(f"| {k} | {v:.4g} |")


if __name__ == "__main__":
    main()
