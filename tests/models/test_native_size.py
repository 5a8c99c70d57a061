"""A checkpoint's native size comes from its configs (UNet ``sample_size`` x the VAE's
downscale), never its weights: what the UI's size presets follow."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import webui.models.configs as shipped
from webui.models.manager import ModelManager
from webui.models.registry import (SDXL_NATIVE_SIZE, HashCache, ModelRegistry,
                                   native_size_from_configs)

SDXL_CONFIGS = Path(shipped.__file__).parent / "sdxl-base-1.0"


def edit_config(path: Path, **changes) -> None:
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
    st = path.stat()  # a new mtime even on a coarse-clock file system
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


@pytest.fixture
def models(tiny_models_dir, tmp_path):
    """A checkpoints folder: two tiny models (a folder and a single file with its
    ``.config/``), a copy of the folder whose UNet says sample_size 8, a bare single file
    (no config folder: the shipped SDXL configs) and a folder of real SDXL base configs."""
    src = tiny_models_dir / "Stable-diffusion"
    root = tmp_path / "Stable-diffusion"
    root.mkdir()
    shutil.copytree(src / "tiny-sdxl-a", root / "tiny-sdxl-a")
    shutil.copy(src / "tiny-sdxl-c.safetensors", root / "tiny-sdxl-c.safetensors")
    shutil.copytree(src / "tiny-sdxl-c.config", root / "tiny-sdxl-c.config")
    shutil.copytree(src / "tiny-sdxl-a", root / "tiny-small")
    edit_config(root / "tiny-small" / "unet" / "config.json", sample_size=8)
    shutil.copy(src / "tiny-sdxl-c.safetensors", root / "bare-file.safetensors")
    shutil.copytree(SDXL_CONFIGS, root / "sdxl-configs")
    return root


@pytest.fixture
def registry(models, tmp_path):
    return ModelRegistry(models, hash_cache=HashCache(tmp_path / "hashes.json"))


def test_native_size_of_each_kind_of_checkpoint(registry):
    size = lambda name: registry.native_size(registry.get(name))  # noqa: E731
    # tiny models: UNet sample_size 16, 4-level VAE (x8)
    assert size("tiny-sdxl-a") == 128
    # a single file built from the <stem>.config folder beside it has that folder's size
    assert size("tiny-sdxl-c") == 128
    assert size("tiny-small") == 64
    # a single file on the shipped SDXL configs, a hub id: SDXL
    assert size("bare-file") == SDXL_NATIVE_SIZE == 1024
    assert size("stabilityai/stable-diffusion-xl-base-1.0") == 1024
    # real SDXL base configs: sample_size 128
    assert size("sdxl-configs") == 1024


def test_native_size_reads_the_vae_downscale_and_defaults(tmp_path):
    folder = tmp_path / "m"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 8}))
    assert native_size_from_configs(folder) == 64  # no VAE config: 8x
    (folder / "vae").mkdir()
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [8, 8, 8]}))
    assert native_size_from_configs(folder) == 32  # 3 levels: 4x
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": [8, 8]}))
    assert native_size_from_configs(folder) == 32
    (folder / "unet" / "config.json").write_text(json.dumps({"in_channels": 4}))
    assert native_size_from_configs(folder) is None
    (folder / "unet" / "config.json").write_text("{not json")
    assert native_size_from_configs(folder) is None
    assert native_size_from_configs(tmp_path / "missing") is None
    assert native_size_from_configs(SDXL_CONFIGS) == 1024


def test_native_size_cached_per_path_and_follows_an_edited_config(registry, models):
    info = registry.get("tiny-small")
    assert registry.native_size(info) == 64
    assert len(registry._native) == 1
    assert registry.native_size(info) == 64
    assert len(registry._native) == 1  # read once
    edit_config(models / "tiny-small" / "unet" / "config.json", sample_size=32)
    assert registry.native_size(info) == 256


def test_manager_native_size_by_name(registry):
    manager = ModelManager(registry, device="cpu")
    assert manager.native_size("tiny-small") == 64
    assert manager.native_size("tiny-sdxl-a") == 128
    assert manager.native_size("no-such-model") == 1024
    assert manager.native_size(None) == 1024
