"""Start-up and queue overhead: ``python benchmarks/startup_bench.py``.

* **start to UI ready**: ``python launch.py`` in a child process (tiny models, no model
  loaded) until ``GET /`` answers, in seconds (median of ``--starts`` runs);
* **queue overhead per job**: tiny 1-step 64x64 jobs through ``ctx.jobs.run`` (validation,
  FIFO device queue, engine, history write) against the same jobs through ``engine.run``
  alone (no queue, no history), per job in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_start(models: Path, work: Path) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "launch.py", "--port", str(port), "--models-dir",
                             str(models), "--outputs-dir", str(work / "o"), "--data-dir",
                             str(work / "d")], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("app exited")
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)


def queue_overhead(models: Path, work: Path, jobs: int) -> tuple[float, float]:
    from webui import engine
    from webui.app import create_context
    from webui.config import Settings
    from webui.engine.progress import JobProgress
    from webui.request import GenerationRequest

    ctx = create_context(Settings(models_dir=models, outputs_dir=work / "qo",
                                  data_dir=work / "qd", device="cpu"))
    req = lambda i: GenerationRequest(prompt="a cat", width=64, height=64, steps=1,  # noqa
                                      seed=i, sampler="Euler", model="tiny-sdxl-a")
    engine.run(ctx.manager, req(0), JobProgress())  # load the model once
    direct, queued = [], []
    for i in range(jobs):  # interleave so both see the same machine state
        t = time.perf_counter()
        engine.run(ctx.manager, req(i), JobProgress())
        direct.append(time.perf_counter() - t)
        t = time.perf_counter()
        ctx.jobs.run(req(i), owner="bench")
        queued.append(time.perf_counter() - t)
    return statistics.median(direct) * 1000, statistics.median(queued) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--jobs", type=int, default=20)
    a = p.parse_args()
    from webui.testing.tiny_models import write_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = work / "models"
        write_tiny_models(models)
        starts = [time_start(models, work / f"s{i}") for i in range(a.starts)]
        direct, queued = queue_overhead(models, work, a.jobs)
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| start to UI ready (median of {a.starts}) | {statistics.median(starts):.2f} s |")
    print(f"| tiny job, engine only (median of {a.jobs}) | {direct:.1f} ms |")
    print(f"| tiny job through ctx.jobs: queue + history write | {queued:.1f} ms |")
    print(f"| queue + history overhead per job | {queued - direct:.1f} ms |")


if __name__ == "__main__":
    main()
