"""Find checkpoints in ``<models-dir>/Stable-diffusion`` and hash them as A1111 does."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: weight file whose hash identifies a diffusers folder (A1111 hashes the whole single file)
_UNET_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors",
                 "unet/diffusion_pytorch_model.fp16.safetensors",
                 "unet/diffusion_pytorch_model.bin")


class ModelNotFound(LookupError):
    """No checkpoint with that name; the message says where checkpoints go."""


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint on disk."""

    name: str          # shown in dropdowns and written as ``Model:``
    path: Path
    format: str        # "diffusers" | "single-file"

    @property
    def title(self) -> str:
        return self.name

    def hash_file(self) -> Path:
        """The file whose sha256 gives the A1111 ``Model hash``."""
        if self.format == "single-file":
            return self.path
        for rel in _UNET_WEIGHTS:
            if (self.path / rel).is_file():
                return self.path / rel
        return self.path / "model_index.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Full sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class CheckpointRegistry:
    """Lists the checkpoints of one folder; hashes are computed once per (path, size, mtime)."""

    def __init__(self, checkpoints_dir: Path):
        self.root = Path(checkpoints_dir)
        self._hash_cache: dict[tuple[str, int, int], str] = {}

    def scan(self) -> list[CheckpointInfo]:
        """Every checkpoint currently in the folder, sorted by name."""
        found: list[CheckpointInfo] = []
        if not self.root.is_dir():
            return found
        for entry in sorted(self.root.rglob("model_index.json")):
            folder = entry.parent
            found.append(CheckpointInfo(self._name(folder), folder, "diffusers"))
        for entry in sorted(self.root.rglob("*.safetensors")):
            if any(p.name in {"unet", "vae", "text_encoder", "text_encoder_2"}
                   or (p / "model_index.json").exists() for p in entry.parents):
                continue  # a component of a diffusers folder, not a checkpoint of its own
            found.append(CheckpointInfo(self._name(entry.with_suffix("")), entry,
                                        "single-file"))
        return sorted(found, key=lambda c: c.name.lower())

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def names(self) -> list[str]:
        return [c.name for c in self.scan()]

    def get(self, name: str) -> CheckpointInfo:
        """The checkpoint called ``name`` (name, file name or path relative to the folder)."""
        for info in self.scan():
            if name in (info.name, info.path.name, str(info.path)):
                return info
        raise ModelNotFound(
            f"checkpoint {name!r} not found in {self.root.resolve()}; put SDXL checkpoints "
            "there (a diffusers folder or a .safetensors file) and press Refresh")

    def short_hash(self, info: CheckpointInfo) -> str:
        """A1111's 10-hex model hash: the first 10 hex digits of the file's sha256."""
        f = info.hash_file()
        st = f.stat()
        key = (str(f.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._hash_cache:
            self._hash_cache[key] = sha256_file(f)
        return self._hash_cache[key][:10]
