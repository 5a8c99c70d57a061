"""Scaling benchmark: N simulated users x M checkpoints over 1 and 2 Ray Serve workers.

Each user is a person at the UI: they submit a job on their checkpoint (user i uses
checkpoint i mod M), wait for it, and submit the next, ``--jobs`` times. Every job goes
through the app's one run path (JobRunner: validation, the fair queue with one turn per
worker, the history store), so waits are what a person would see. Per row:

* jobs/min: finished jobs over the wall time of the row;
* wait p50/p95: seconds from submitting a job to its first denoising step (queue, routing,
  a checkpoint load when the job's worker lacks its checkpoint);
* loads: checkpoints read from disk by all workers (each holds ``--models-per-worker``).

    python benchmarks/scaling_bench.py                    # 6 users x 2 checkpoints, 1 and 2 workers
    python benchmarks/scaling_bench.py --users 8 --checkpoints 3 --workers 1,2

Runs on the CPU with the tiny test models (no download); a local Ray instance is started with
as many CPUs as the largest worker count.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run_row(models: Path, work: Path, workers: int, users: int, checkpoints: list[str],
            jobs: int, steps: int, size: int, per_worker: int) -> dict:
    from webui.app import create_context
    from webui.config import Settings
    from webui.engine.progress import JobProgress
    from webui.request import GenerationRequest

    settings = Settings(models_dir=models, outputs_dir=work / f"out{workers}",
                        data_dir=work / f"data{workers}", device="cpu", backend="ray",
                        ray_workers=workers, ray_models_per_worker=per_worker,
                        no_watermark=True, max_queue=users * jobs)
    ctx = create_context(settings)
    backend = ctx.jobs.backend
    try:
        while len(backend.worker_stats()) < workers:
            time.sleep(0.2)
        waits: list[float] = []
        lock = threading.Lock()

        def user(u: int) -> None:
            for j in range(jobs):
                progress = JobProgress()
                first: dict = {}
                progress.listeners.append(
                    lambda p, f=first: p.done_steps and f.setdefault("t", time.monotonic()))
                req = GenerationRequest(prompt=f"user {u} job {j}", width=size, height=size,
                                        steps=steps, seed=u * 1000 + j, sampler="Euler",
                                        model=checkpoints[u % len(checkpoints)])
                sent = time.monotonic()
                ctx.jobs.run(req, f"user{u}", progress)
                with lock:
                    waits.append(first.get("t", time.monotonic()) - sent)

        started = time.monotonic()
        threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        stats = backend.worker_stats()
        return {"workers": workers, "jobs": len(waits), "wall": wall,
                "per_min": len(waits) / wall * 60, "p50": percentile(waits, 0.5),
                "p95": percentile(waits, 0.95),
                "loads": sum(s["loads_from_disk"] for s in stats.values()),
                "spread": "/".join(str(s["jobs"]) for s in stats.values())}
    finally:
        backend.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--checkpoints", type=int, default=2, choices=[1, 2, 3])
    p.add_argument("--jobs", type=int, default=3, help="jobs per user (one after another)")
    p.add_argument("--workers", default="1,2", help="worker counts, one row each")
    p.add_argument("--models-per-worker", type=int, default=1)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import ray
    from ray import serve

    from webui.backends.ray_serve import connect
    from webui.testing.tiny_models import write_tiny_models

    counts = [int(x) for x in a.workers.split(",")]
    names = ["tiny-sdxl-a", "tiny-sdxl-b", "tiny-sdxl-c"][:a.checkpoints]
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        write_tiny_models(models, ["tiny-sdxl-a", "tiny-sdxl-b"])
        if a.checkpoints == 3:
            write_tiny_models(models)  # adds tiny-sdxl-c (a single file)
        connect(None, num_cpus=max(counts), object_store_memory=200 * 2**20,
                log_to_driver=False)
        rows = []
        try:
            for n in counts:
                rows.append(run_row(models, Path(tmp), n, a.users, names, a.jobs, a.steps,
                                    a.size, a.models_per_worker))
        finally:
            serve.shutdown()
            ray.shutdown()
    print(f"\n{a.users} users x {a.checkpoints} checkpoints, {a.jobs} jobs each, "
          f"{a.size}x{a.size} {a.steps} steps, {a.models_per_worker} checkpoint(s) per worker "
          f"(tiny models, CPU workers of 1 CPU)\n")
    print("| workers | jobs | jobs/min | wait p50 (s) | wait p95 (s) | checkpoint loads "
          "| jobs per worker |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['jobs']} | {r['per_min']:.1f} | {r['p50']:.2f} | "
              f"{r['p95']:.2f} | {r['loads']} | {r['spread']} |")


if __name__ == "__main__":
    main()
