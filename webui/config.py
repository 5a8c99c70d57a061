"""Settings of one app instance: command-line flags, each also settable by an env var."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "WEBUI_"


@dataclass(frozen=True)
class Limits:
    """Bounds every request is validated against (the same for UI and API)."""

    min_size: int = 64
    max_size: int = 2048
    max_steps: int = 150
    max_cfg: float = 30.0
    max_batch_size: int = 8
    max_batch_count: int = 100
    max_image_pixels: int = 4096 * 4096  # uploaded init images/masks


@dataclass
class Settings:
    """Everything the app needs to know at start; built once in ``launch.py``."""

    port: int = 7860
    listen: bool = False
    models_dir: Path = Path("models")
    outputs_dir: Path = Path("outputs")
    data_dir: Path = Path("data")
    db: str | None = None
    ckpt: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    ckpt_cache: str | None = None  # count ("3") or size ("12GB"); None = half the free RAM
    offload: str = "auto"
    api: bool = False
    nowebui: bool = False
    limits: Limits = field(default_factory=Limits)

    @property
    def host(self) -> str:
        return "0.0.0.0" if self.listen else "127.0.0.1"

    @property
    def api_enabled(self) -> bool:
        """The HTTP API is served with ``--api``, and always with ``--nowebui``."""
        return self.api or self.nowebui

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'webui.db').resolve()}"

    @property
    def checkpoints_dir(self) -> Path:
        return self.models_dir / "Stable-diffusion"


def _env(name: str, default):
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


def _env_flag(name: str) -> bool:
    return str(_env(name, "")).lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    """The ``launch.py`` argument parser; every default can come from ``WEBUI_<FLAG>``."""
    p = argparse.ArgumentParser(
        prog="launch.py",
        description="SDXL web UI. Every flag can also be set by an environment variable "
        f"{ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PORT=7861, {ENV_PREFIX}MODELS_DIR=/data/models).",
    )
    p.add_argument("--port", type=int, default=int(_env("port", 7860)),
                   help="HTTP port to serve on (default 7860).")
    p.add_argument("--listen", action="store_true", default=_env_flag("listen"),
                   help="Bind 0.0.0.0 so other machines on the network can connect "
                        "(default: 127.0.0.1 only).")
    p.add_argument("--models-dir", type=Path, default=Path(_env("models_dir", "models")),
                   help="Models folder in AUTOMATIC1111's layout: checkpoints in "
                        "Stable-diffusion/, LoRAs in Lora/, VAEs in VAE/ (default ./models).")
    p.add_argument("--outputs-dir", type=Path, default=Path(_env("outputs_dir", "outputs")),
                   help="Where images are saved, as outputs/txt2img-images/YYYY-MM-DD/ "
                        "(default ./outputs).")
    p.add_argument("--data-dir", type=Path, default=Path(_env("data_dir", "data")),
                   help="Folder for the history database and other app data (default ./data).")
    p.add_argument("--db", default=_env("db", None),
                   help="SQLAlchemy database URL for the history, e.g. "
                        "postgresql+psycopg://user:pw@host/db (default: SQLite file "
                        "<data-dir>/webui.db).")
    p.add_argument("--ckpt", default=_env("ckpt", None),
                   help="Checkpoint to select at start (name as listed in the model dropdown). "
                        "It is loaded on first use, not at start.")
    p.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"],
                   default=_env("device", "auto"),
                   help="Torch device; auto picks cuda, then mps, then cpu.")
    p.add_argument("--dtype", choices=["auto", "fp16", "bf16", "fp32"],
                   default=_env("dtype", "auto"),
                   help="Weights dtype; auto is fp16 on cuda/mps and fp32 on cpu.")
    p.add_argument("--ckpt-cache", default=_env("ckpt_cache", None),
                   help="How many checkpoints to keep in RAM for instant switching: a count "
                        "(e.g. 3) or a size (e.g. 12GB). Default: up to half the free RAM.")
    p.add_argument("--offload", choices=["auto", "none", "model", "sequential"],
                   default=_env("offload", "auto"),
                   help="GPU memory saving: model (whole modules to the GPU only while they "
                        "run) or sequential (layer by layer, slowest, least VRAM). auto picks "
                        "from the free VRAM; ignored on CPU.")
    p.add_argument("--max-image-pixels", type=int,
                   default=int(_env("max_image_pixels", 4096 * 4096)),
                   help="Largest uploaded image (width x height) accepted by img2img, inpaint "
                        "and outpaint (default 16777216 = 4096x4096).")
    p.add_argument("--max-size", type=int, default=int(_env("max_size", 2048)),
                   help="Largest width/height a job may ask for (default 2048).")
    p.add_argument("--api", action="store_true", default=_env_flag("api"),
                   help="Serve the HTTP API on the same port: AUTOMATIC1111's /sdapi/v1 and "
                        "Stability's REST v1 (/v1), with OpenAPI docs at /docs.")
    p.add_argument("--nowebui", action="store_true", default=_env_flag("nowebui"),
                   help="Serve the HTTP API only, without the browser UI (implies --api).")
    return p


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Parse command-line flags (falling back to env vars) into ``Settings``."""
    a = build_parser().parse_args(argv)
    return Settings(
        port=a.port, listen=a.listen, models_dir=a.models_dir, outputs_dir=a.outputs_dir,
        data_dir=a.data_dir, db=a.db, ckpt=a.ckpt, device=a.device, dtype=a.dtype,
        ckpt_cache=a.ckpt_cache, offload=a.offload, api=a.api, nowebui=a.nowebui,
        limits=Limits(max_image_pixels=a.max_image_pixels, max_size=a.max_size),
    )
