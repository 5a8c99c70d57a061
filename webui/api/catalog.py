"""What the models folder holds, named the way A1111 clients expect: checkpoint titles,
LoRA and VAE files. Read from disk on each call, so a refresh is just another call."""

from __future__ import annotations

import re
from pathlib import Path

from webui.models.registry import ModelInfo, ModelNotFound

_TITLE_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]\s*$")
LORA_SUFFIXES = (".safetensors", ".pt", ".ckpt")
VAE_SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")


def known_sha256(manager, info: ModelInfo) -> str | None:
    """The checkpoint's full sha256 once it is known (hashed when it loaded or when the
    Models tab listed it, kept in the database), else None: hashing a 7 GB file just to list
    it would stall the listing, as A1111 also avoids."""
    return manager.registry.known_sha256(info)


def known_hash(manager, info: ModelInfo) -> str | None:
    """A1111's 10-hex short hash once known (see ``known_sha256``), else None."""
    sha = known_sha256(manager, info)
    if sha:
        return sha[:10]
    current = manager.current  # a loaded model whose hash came from elsewhere (hub cache)
    if current is not None and current.info == info:
        return current.short_hash
    return None


def checkpoint_title(manager, info: ModelInfo) -> str:
    """A1111's title: ``name [hash]`` once the hash is known, else ``name``."""
    short = known_hash(manager, info)
    return f"{info.name} [{short}]" if short else info.name


def resolve_checkpoint(manager, value: str, refiner: bool = False) -> ModelInfo:
    """A checkpoint from what a client sends: its title (``name [hash]``), name, file name
    (with or without extension) or path; exact first, then case-insensitive. Only base
    checkpoints qualify, or with ``refiner`` the refiner candidates."""
    if not isinstance(value, str) or not value.strip():
        raise ModelNotFound("checkpoint name is empty")
    wanted = {_TITLE_HASH.sub("", value.strip()), value.strip()}
    infos = checkpoints(manager, refiner=refiner, base=not refiner)
    for fold in (False, True):
        def norm(s: str) -> str:
            return s.lower() if fold else s
        keys = {norm(w) for w in wanted}
        for info in infos:
            names = {info.name, info.path.name, info.path.stem, str(info.path),
                     checkpoint_title(manager, info)}
            if keys & {norm(n) for n in names}:
                return info
    what = "refiner" if refiner else "checkpoint"
    choices = ", ".join(i.name for i in infos) or "none"
    raise ModelNotFound(f"{what} {value!r} not found; available: {choices}")


def checkpoints(manager, refiner: bool = True, base: bool = True) -> list:
    """Checkpoints a job can use as base and/or refiner (every checkpoint with a registry that
    does not tell refiners apart)."""
    usable: set[str] = set()
    if base:
        usable.update(manager.checkpoint_names())
    if refiner:
        usable.update(getattr(manager, "refiner_names", manager.checkpoint_names)())
    return [i for i in manager.registry.scan() if i.name in usable]


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        return []
    found = sorted((p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes),
                   key=lambda p: p.as_posix().lower())
    return [(p.relative_to(folder).with_suffix("").as_posix(), p) for p in found]


def lora_files(manager, models_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the LoRAs in ``<models-dir>/Lora``."""
    if hasattr(manager.registry, "loras"):
        return [(m.name, m.path) for m in manager.registry.loras()]
    return _files(Path(models_dir) / "Lora", LORA_SUFFIXES)


def vae_files(manager, models_dir: Path) -> list[tuple[str, Path]]:
    """(name, path) of the VAEs in ``<models-dir>/VAE``."""
    if hasattr(manager.registry, "vaes"):
        return [(m.name, m.path) for m in manager.registry.vaes()]
    return _files(Path(models_dir) / "VAE", VAE_SUFFIXES)


def vae_names(manager, models_dir: Path) -> list[str]:
    return [name for name, _ in vae_files(manager, models_dir)]
