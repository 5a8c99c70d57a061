"""The registry finds and classifies models by their tensors and hashes them once."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from webui.models.registry import (LORA, PICKLE, SDXL_BASE, SDXL_REFINER, VAE, HashCache,
                                   ModelRegistry)


@pytest.fixture
def registry(tiny_models_dir, tmp_path):
    return ModelRegistry(tiny_models_dir / "Stable-diffusion",
                         hash_cache=HashCache(tmp_path / "hashes.json"))


def test_models_classified_by_content(registry, tiny_models_dir):
    kinds = {m.name: (m.kind, m.format, m.folder) for m in registry.scan_all()}
    assert kinds["tiny-sdxl-a"] == (SDXL_BASE, "diffusers", "Stable-diffusion")
    assert kinds["tiny-sdxl-c"] == (SDXL_BASE, "single-file", "Stable-diffusion")
    assert kinds["tiny-sdxl-refiner"] == (SDXL_REFINER, "diffusers", "Stable-diffusion")
    assert kinds["tiny-lora-a"] == (LORA, "single-file", "Lora")
    assert kinds["tiny-lora-b"] == (LORA, "single-file", "Lora")
    assert kinds["tiny-vae-alt"] == (VAE, "single-file", "VAE")
    styles = {m.name: m.detail for m in registry.loras()}
    assert styles == {"tiny-lora-a": "diffusers", "tiny-lora-b": "kohya"}
    # the refiner is not offered as a base checkpoint
    assert registry.names() == ["tiny-sdxl-a", "tiny-sdxl-b", "tiny-sdxl-c"]


def test_name_does_not_decide_the_kind(registry, tiny_models_dir, tmp_path):
    """A LoRA misnamed as a checkpoint in the wrong folder is still seen as a LoRA."""
    import shutil

    root = tmp_path / "models"
    (root / "Stable-diffusion").mkdir(parents=True)
    shutil.copy(tiny_models_dir / "Lora/tiny-lora-a.safetensors",
                root / "Stable-diffusion/sd_xl_base_1.0.safetensors")
    (root / "Stable-diffusion/old.ckpt").write_bytes(b"not really a pickle")
    reg = ModelRegistry(root / "Stable-diffusion")
    kinds = {m.name: m.kind for m in reg.scan()}
    assert kinds == {"sd_xl_base_1.0": LORA, "old": PICKLE}
    assert reg.names() == []


def test_hashes_are_a1111_and_cached(registry, tiny_models_dir, tmp_path):
    info = registry.get("tiny-sdxl-c")
    full = hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert registry.short_hash(info) == full[:10]
    stored = json.loads((tmp_path / "hashes.json").read_text())
    assert full in stored.values()
    # a second registry reads the cached value instead of the file: prove it by planting one
    key = next(k for k, v in stored.items() if v == full)
    stored[key] = "f" * 64
    (tmp_path / "hashes.json").write_text(json.dumps(stored))
    again = ModelRegistry(tiny_models_dir / "Stable-diffusion",
                          hash_cache=HashCache(tmp_path / "hashes.json"))
    assert again.short_hash(info) == "f" * 10
    # a changed file (new mtime) is hashed again
    os.utime(info.path, ns=(info.path.stat().st_atime_ns, info.path.stat().st_mtime_ns + 10**9))
    assert again.short_hash(again.get("tiny-sdxl-c")) == full[:10]


def test_lora_hash_and_trigger_words(registry):
    info = registry.get("tiny-lora-a", "Lora")
    data = info.path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    assert registry.lora_hash(info) == hashlib.sha256(data[8 + n:]).hexdigest()[:12]
    assert registry.lora_trigger_words(info) == ["tinystyle", "red hat"]
    assert registry.lora_trigger_words(registry.get("tiny-lora-b", "Lora")) == []


def test_hashes_cached_in_the_database(tiny_models_dir, tmp_path):
    from sqlalchemy import text

    from webui.history.db import open_database
    from webui.history.model_hashes import DbHashCache

    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    reg = ModelRegistry(tiny_models_dir / "Stable-diffusion", hash_cache=DbHashCache(engine))
    info = reg.get("tiny-sdxl-c")
    full = hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert reg.short_hash(info) == full[:10]
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT key, sha256 FROM model_hashes")).all()
        assert [r.sha256 for r in rows] == [full]
        # a restarted app reads the row, not the file: prove it with a planted value
        conn.execute(text("UPDATE model_hashes SET sha256 = :h"), {"h": "e" * 64})
    again = ModelRegistry(tiny_models_dir / "Stable-diffusion", hash_cache=DbHashCache(engine))
    assert again.short_hash(again.get("tiny-sdxl-c")) == "e" * 10


def test_truncated_file_is_flagged_at_scan_time(tiny_models_dir, tmp_path):
    """A download that stopped half way is named with what is missing as soon as the folder
    is read, keeps its kind (so choosing it gives the same reason), and a whole file is not
    flagged."""
    import shutil

    sd = tmp_path / "models" / "Stable-diffusion"
    sd.mkdir(parents=True)
    src = tiny_models_dir / "Stable-diffusion"
    data = (src / "tiny-sdxl-c.safetensors").read_bytes()
    (sd / "half.safetensors").write_bytes(data[: len(data) // 2])
    shutil.copy(src / "tiny-sdxl-c.safetensors", sd / "whole.safetensors")
    found = {m.name: m for m in ModelRegistry(sd).scan()}
    assert found["whole"].problem == ""
    half = found["half"]
    assert half.kind == SDXL_BASE
    assert half.problem.startswith(f"truncated: {len(data) // 2:,} of {len(data):,} bytes")
    assert "download it again" in half.problem
