"""Load a checkpoint from disk into a diffusers SDXL pipeline, checking the files first.

diffusers reports a damaged weight file as a generic OSError, so each ``.safetensors`` is
opened here first and a broken one named in the error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from webui.models.registry import CheckpointInfo

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


def check_safetensors(path: Path) -> None:
    """Raise ``ModelLoadError`` unless ``path`` is a readable, complete safetensors file."""
    from safetensors import safe_open

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelLoadError(f"{path} is empty or truncated")
            header_len = int.from_bytes(head, "little")
            if header_len <= 0 or 8 + header_len > size:
                raise ModelLoadError(f"{path} is not a safetensors file or is truncated "
                                     f"(header of {header_len} bytes in a {size}-byte file)")
            header = json.loads(f.read(header_len))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"),
                  default=0)
        if 8 + header_len + end > size:
            raise ModelLoadError(f"{path} is truncated: {size} bytes, the header needs "
                                 f"{8 + header_len + end}")
        with safe_open(str(path), framework="pt"):
            pass
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure means a corrupt file
        raise ModelLoadError(f"{path} is not a valid safetensors file: {exc}") from exc


def check_diffusers_folder(folder: Path) -> None:
    """Check a diffusers pipeline folder's index and every weight file it holds."""
    index = folder / "model_index.json"
    try:
        json.loads(index.read_text())
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{index} is missing or not valid JSON: {exc}") from exc
    for weights in sorted(folder.rglob("*.safetensors")):
        check_safetensors(weights)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` -> fp16 on GPUs, fp32 on the CPU (fp16 is slow or unsupported there)."""
    table = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    return table[dtype]


def load_pipeline(info: CheckpointInfo, dtype: torch.dtype):
    """Load ``info`` as a ``StableDiffusionXLPipeline`` on the CPU, never touching the network."""
    from diffusers import StableDiffusionXLPipeline

    if info.format == "diffusers":
        check_diffusers_folder(info.path)
        loader = StableDiffusionXLPipeline.from_pretrained
    else:
        check_safetensors(info.path)
        # single-file loading with shipped configs comes with the model-manager work
        raise ModelLoadError(
            f"{info.path.name}: single-file checkpoints are not supported yet; "
            "use a diffusers folder")
    try:
        # invisible-watermark would alter every pixel; we record provenance in metadata instead
        pipe = loader(str(info.path), dtype=dtype, local_files_only=True,
                      add_watermarker=False)
    except Exception as exc:  # noqa: BLE001 - surface the reason, not a traceback
        raise ModelLoadError(f"could not load {info.name}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe
