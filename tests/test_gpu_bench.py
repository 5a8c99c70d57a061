"""benchmarks/gpu_bench.py keeps working: its --tiny mode (CPU, tiny models) runs the same code
paths as the GPU run and prints the same table and JSON rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_bench.py"

GEN_ROWS = [f"txt2img {s}, batch {b}, {m} (s/image)"
            for m in ("eager", "compile") for b in (1, 4) for s in ("Euler a", "DPM++ 2M Karras")]
OTHER_ROWS = [
    "compile warm-up, first job (s)",
    "base+refiner, switch at 0.8, batch 1 (s/image)",
    "base+refiner weights, shared modules once (GiB)",
    "checkpoint sha256, first load only (s)",
    "cold load from disk (s)",
    "cached switch between two checkpoints (s)",
    "LoRA on, first use (s/job)",
    "LoRA switch A to B (s/job)",
    "LoRA off (s/job)",
    "LoRA on again, loaded (s/job)",
    "LoRA switch A to B, compile (s/job)",
    "VAE decode, one image (ms)",
    "engine job, Euler a, batch 1 (s)",
    "bare diffusers call, same inputs (s)",
    "engine overhead vs bare diffusers (%)",
    "txt2img + 1 ControlNet unit, Euler a, batch 1 (s/image)",
    "LoRA training 1024², rank 16, batch 1, grad. checkpointing (steps/s)",
    "LoRA training 1024², 1000 steps (min)",
    "LoRA training 1024², peak VRAM (GiB)",
    "peak VRAM, whole run (GiB)",
]
#: rows that need CUDA or torch.compile: "n/a" on the CPU
CUDA_ONLY = {"peak VRAM, whole run (GiB)", "compile warm-up, first job (s)",
             "LoRA switch A to B, compile (s/job)", "LoRA training 1024², peak VRAM (GiB)"} | {r for r in GEN_ROWS if "compile" in r}


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for the rows of the markdown table."""
    rows = {}
    for line in stdout.splitlines():
        if not line.startswith("| ") or line.startswith("| measurement") or "---" in line:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_bench") / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--json", str(out)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    return proc, out


def test_tiny_mode_runs_and_prints_every_row(tiny_run):
    proc, _ = tiny_run
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    rows = _table_rows(proc.stdout)
    assert list(rows) == GEN_ROWS + OTHER_ROWS
    for name, cells in rows.items():
        value = cells[0]
        if name in CUDA_ONLY:
            assert value == "n/a", (name, cells)
        else:
            assert float(value) == float(value), (name, cells)  # a number, not n/a
    # the placement check reports either its lines or that it is not there yet
    assert "placement check: " in proc.stdout
    assert "ERROR" not in proc.stdout


def test_tiny_mode_json_has_the_same_rows_with_numbers(tiny_run):
    proc, out = tiny_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["rows"]] == GEN_ROWS + OTHER_ROWS
    assert data["meta"]["mode"] == "tiny" and data["meta"]["device"] == "cpu"
    assert data["errors"] == []
    for row in data["rows"]:
        if row["name"] in CUDA_ONLY:
            assert row["value"] is None and row["note"].startswith("n/a"), row
        else:
            assert isinstance(row["value"], (int, float)), row
            assert row["value"] == row["value"], row  # not NaN
    values = data["values"]
    for name in ("cold load from disk (s)", "cached switch between two checkpoints (s)",
                 "VAE decode, one image (ms)", "bare diffusers call, same inputs (s)"):
        assert values[name] > 0, name
    its = {r["name"]: r["it_per_s"] for r in data["rows"]}
    for name in GEN_ROWS:
        if name not in CUDA_ONLY:
            assert its[name] and its[name] > 0, name
    # LoRA training ran through the app's trainer, checkpointing forced on as on CUDA
    steps_s = values["LoRA training 1024², rank 16, batch 1, grad. checkpointing (steps/s)"]
    assert steps_s > 0
    assert values["LoRA training 1024², 1000 steps (min)"] == pytest.approx(1000 / steps_s / 60)
    training = data["meta"]["training"]
    assert training["checkpointing"] is True and training["rank"] == 16
    assert training["optimizer"] == "AdamW" and training["scaler"] is False  # CPU, fp32
    # base and refiner hold text_encoder_2 and the VAE once
    refiner_row = next(r for r in data["rows"] if r["name"].startswith("base+refiner weights"))
    assert "shared: text_encoder_2, vae" in refiner_row["note"]
    assert data["placement"]["status"] in {"ok on meta", "not available"}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_and_without_tiny_it_exits_2_with_a_message():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no CUDA GPU" in proc.stderr and "--tiny" in proc.stderr
