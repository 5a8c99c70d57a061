"""Live-preview cost: generation time with a preview every step / every 5 steps vs none.

    python benchmarks/preview_bench.py [--size 256] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from webui.engine.progress import JobProgress
    from webui.engine.txt2img import run_txt2img
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry
    from webui.request import GenerationRequest
    from webui.testing.tiny_models import write_tiny_models

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    models = Path(tempfile.mkdtemp()) / "models"
    write_tiny_models(models, ["tiny-sdxl-a"])
    manager = ModelManager(ModelRegistry(models / "Stable-diffusion"))
    req = lambda: GenerationRequest(prompt="a cat", width=a.size, height=a.size,  # noqa: E731
                                    steps=a.steps, seed=1, sampler="Euler", model="tiny-sdxl-a")
    run_txt2img(manager, req())  # warm-up

    # interleaved rounds, so a busy machine slows every variant alike
    times: dict[int, list[float]] = {0: [], 5: [], 1: []}
    for _ in range(a.repeat):
        for every in times:
            t = time.perf_counter()
            run_txt2img(manager, req(), JobProgress(preview_every=every))
            times[every].append(time.perf_counter() - t)
    off = statistics.median(times[0])
    print(f"| live preview ({a.size}px, {a.steps} steps, CPU) | time (s) | overhead |")
    print("| --- | --- | --- |")
    print(f"| off | {off:.3f} | - |")
    for every in (5, 1):
        t = statistics.median(times[every])
        print(f"| every {every} step(s) | {t:.3f} | {100 * (t - off) / off:+.1f}% |")


if __name__ == "__main__":
    main()
