"""Load a checkpoint from disk into a diffusers SDXL pipeline, checking the files first.

diffusers reports a damaged weight file as a generic OSError, so each ``.safetensors`` is
opened here first and a broken one named in the error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from webui.heavy_imports import ensure as ensure_imports
from webui.models.configs import config_dir
from webui.models.registry import (PICKLE_SUFFIXES, SDXL_BASE, SDXL_INPAINT, SDXL_REFINER,
                                   ModelInfo)

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
    check_diffusers_weights(folder)


def check_diffusers_weights(folder: Path) -> None:
    """Check every safetensors weight file under ``folder``; refuse pickled weights."""
    for weights in sorted(folder.rglob("*.safetensors")):
        check_safetensors(weights)
    for pickled in sorted(folder.rglob("*.bin")):
        if not pickled.with_suffix(".safetensors").exists():
            raise ModelLoadError(f"{pickled} holds pickled weights, which can run code when "
                                 "loaded; use a .safetensors copy of this model")


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


_PIPELINES = {
    SDXL_BASE: "StableDiffusionXLPipeline",
    SDXL_REFINER: "StableDiffusionXLImg2ImgPipeline",
    SDXL_INPAINT: "StableDiffusionXLInpaintPipeline",
}


def refuse_pickle(info: ModelInfo) -> None:
    """Pickle checkpoints can run arbitrary code when unpickled: never load them."""
    if info.format == "pickle" or info.path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelLoadError(
            f"{info.path.name} is a pickle file ({info.path.suffix}); pickle files can run "
            "code when loaded, so they are refused. Use the .safetensors version of this model "
            "(most model sites offer one) or convert it to .safetensors on a trusted machine.")


def single_file_config(info: ModelInfo) -> Path:
    """The diffusers config folder for a single-file checkpoint: ``<stem>.config/`` beside it
    when present (non-standard sizes), else the SDXL configs shipped in the package."""
    beside = info.path.with_suffix(".config")
    if (beside / "model_index.json").is_file():
        return beside
    return config_dir(info.kind)


def load_pipeline(info: ModelInfo, dtype: torch.dtype):
    """Load a checkpoint as the diffusers pipeline of its kind, on the CPU, never touching the
    network. Files are checked first so a bad one is named with the reason."""
    ensure_imports()  # a token counter may be resolving transformers' names right now
    import diffusers

    refuse_pickle(info)
    if info.kind not in _PIPELINES:
        why = info.problem or info.detail
        raise ModelLoadError(f"{info.name} is not an SDXL checkpoint ({info.kind}"
                             f"{': ' + why if why else ''})")
    cls = getattr(diffusers, _PIPELINES[info.kind])
    try:
        if info.format == "hub":
            return _load_from_hub(cls, info, dtype)
        if info.format == "diffusers":
            check_diffusers_folder(info.path)
            # invisible-watermark would alter every pixel; provenance lives in the metadata
            pipe = cls.from_pretrained(str(info.path), dtype=dtype, local_files_only=True,
                                       add_watermarker=False)
        else:
            check_safetensors(info.path)
            pipe = cls.from_single_file(str(info.path), config=str(single_file_config(info)),
                                        local_files_only=True, torch_dtype=dtype,
                                        add_watermarker=False)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - surface the reason, not a traceback
        raise ModelLoadError(f"could not load {info.name}: {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def offline_hub_message(repo_id: str) -> str:
    """Why a hub id cannot load offline and both ways to get it, complete in itself."""
    folder = repo_id.rsplit("/", 1)[-1]
    return (
        f"{repo_id} is a Hugging Face hub id, and this app runs offline (HF_HUB_OFFLINE is "
        "set), so it cannot download it. Either start the app without HF_HUB_OFFLINE (it is "
        "then downloaded once into the Hugging Face cache), or on a machine that is online "
        f"run: hf download {repo_id} --include \"*.json\" --include \"*.txt\" "
        "--include \"*/diffusion_pytorch_model.safetensors\" "
        f"--include \"*/model.safetensors\" --local-dir {folder} , copy the folder {folder} "
        "into Stable-diffusion/ in the models folder (--models-dir, default models/), press "
        f"Refresh and choose {folder}.")


def _load_from_hub(cls, info: ModelInfo, dtype: torch.dtype):
    """A hub id (``stabilityai/stable-diffusion-xl-base-1.0``): fetched into the hub cache
    when online (safetensors only), read from that cache afterwards."""
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise ModelLoadError(offline_hub_message(info.name))
    try:
        pipe = cls.from_pretrained(info.name, dtype=dtype, use_safetensors=True,
                                   add_watermarker=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"could not load {info.name} from the hub (is this machine "
                             f"online?): {exc}") from exc
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_vae(info: ModelInfo, dtype: torch.dtype):
    """Load a VAE (diffusers folder or single .safetensors in the original layout)."""
    ensure_imports()
    from diffusers import AutoencoderKL

    refuse_pickle(info)
    try:
        if info.format == "diffusers":
            check_diffusers_weights(info.path)
            return AutoencoderKL.from_pretrained(str(info.path), dtype=dtype,
                                                 local_files_only=True)
        check_safetensors(info.path)
        beside = info.path.with_suffix(".config")
        config = str(beside) if (beside / "config.json").is_file() else str(
            config_dir(SDXL_BASE))
        kwargs = {} if beside.is_dir() else {"subfolder": "vae"}
        return AutoencoderKL.from_single_file(str(info.path), config=config,
                                              local_files_only=True, torch_dtype=dtype,
                                              **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"could not load VAE {info.name}: {exc}") from exc
