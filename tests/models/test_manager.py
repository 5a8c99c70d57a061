"""The model manager on the tiny models: single files, cache, sharing, refiner, LoRA, VAE."""

from __future__ import annotations

import gc
import shutil

import numpy as np
import psutil
import pytest
import torch

from tests.helpers import small_request
from webui.engine.core import decode_latents
from webui.engine.txt2img import run_txt2img
from webui.metadata.infotext import parse_infotext
from webui.models.loader import ModelLoadError
from webui.models.lora import extract_lora_tags
from webui.models.manager import JobModels, ModelManager, parse_cache_budget
from webui.models.registry import ModelRegistry


def px(result, i=0):
    return np.asarray(result.images[i].image, dtype=np.int16)


def manager_for(models_dir, **kw) -> ModelManager:
    return ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), device="cpu", **kw)


def test_single_file_checkpoint_loads_offline_like_its_diffusers_twin(tiny_models_dir):
    """tiny-sdxl-c is a single .safetensors (Stability layout) of build_pipeline('base', 3)."""
    from webui.testing.tiny_models import build_pipeline

    manager = manager_for(tiny_models_dir)
    result = run_txt2img(manager, small_request(model="tiny-sdxl-c", seed=9))
    twin = build_pipeline("base", 3)
    loaded = manager.current.pipe
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        mine = getattr(loaded, name).state_dict()
        ref = getattr(twin, name).state_dict()
        assert mine.keys() == ref.keys(), name
        assert all(torch.equal(mine[k], ref[k]) for k in ref), name
    assert result.images[0].image.size == (64, 64)
    assert manager.current.info.format == "single-file"


def test_switch_back_gives_same_pixels_and_reads_no_file(tiny_models_dir):
    manager = manager_for(tiny_models_dir, cache="3")
    a1 = run_txt2img(manager, small_request(model="tiny-sdxl-a"))
    b = run_txt2img(manager, small_request(model="tiny-sdxl-b"))
    loads = manager.loads_from_disk
    a2 = run_txt2img(manager, small_request(model="tiny-sdxl-a"))
    assert np.array_equal(px(a1), px(a2))
    assert not np.array_equal(px(a1), px(b))
    assert manager.loads_from_disk == loads == 2  # A again came from the RAM cache


def test_lru_budget_evicts_least_recently_used(tiny_models_dir):
    manager = manager_for(tiny_models_dir, cache="2")
    for name in ("tiny-sdxl-a", "tiny-sdxl-b", "tiny-sdxl-c"):
        manager.preload(name)
    assert manager.cached_names() == ["tiny-sdxl-b", "tiny-sdxl-c"]
    manager.preload("tiny-sdxl-b")
    manager.preload("tiny-sdxl-a")
    assert manager.cached_names() == ["tiny-sdxl-b", "tiny-sdxl-a"]
    assert manager.loads_from_disk == 4


def test_base_and_refiner_share_text_encoder_2_and_vae(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    with manager.prepare(JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner")) as job:
        base, refiner = job.base, job.refiner
    assert refiner.pipe.text_encoder_2 is base.pipe.text_encoder_2
    assert refiner.pipe.vae is base.pipe.vae
    assert refiner.pipe.unet is not base.pipe.unet
    # a different base shares nothing it does not hold identically
    other = manager.preload("tiny-sdxl-b")
    assert other.pipe.vae is not base.pipe.vae


def test_corrupt_and_pickle_refused_current_model_kept(tiny_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    sd = models / "Stable-diffusion"
    data = (sd / "tiny-sdxl-c.safetensors").read_bytes()
    (sd / "tiny-sdxl-c.safetensors").write_bytes(data[: len(data) - 1000])  # truncated
    (sd / "evil.ckpt").write_bytes(b"\x80\x04c__builtin__\neval\n")  # a pickle payload
    manager = manager_for(models)
    manager.preload("tiny-sdxl-a")
    with pytest.raises(ModelLoadError, match="truncated"):
        manager.preload("tiny-sdxl-c")
    with pytest.raises(ModelLoadError, match="pickle files can run code"):
        manager.preload("evil")
    assert manager.current.info.name == "tiny-sdxl-a"
    assert manager.cached_names() == ["tiny-sdxl-a"]
    assert run_txt2img(manager, small_request()).images  # still serving


def test_refiner_handoff_runs_both_unets(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    with manager.prepare(JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner")) as job:
        base, refiner = job.base, job.refiner
    calls = {"base": 0, "refiner": 0}
    hooks = [base.pipe.unet.register_forward_hook(lambda *a: calls.__setitem__(
                 "base", calls["base"] + 1)),
             refiner.pipe.unet.register_forward_hook(lambda *a: calls.__setitem__(
                 "refiner", calls["refiner"] + 1))]
    try:
        with_refiner = run_txt2img(manager, small_request(
            steps=10, refiner="tiny-sdxl-refiner", refiner_switch_at=0.8))
    finally:
        for h in hooks:
            h.remove()
    # Euler, 10 steps, switch at 0.8: the base runs the first 8, the refiner the last 2
    assert calls == {"base": 8, "refiner": 2}
    plain = run_txt2img(manager, small_request(steps=10))
    assert not np.array_equal(px(with_refiner), px(plain))
    params = parse_infotext(with_refiner.images[0].infotext)["params"]
    assert params["Refiner"] == f"tiny-sdxl-refiner [{refiner.short_hash}]"
    assert params["Refiner switch at"] == "0.8"
    assert manager.loads_from_disk == 2  # nothing reloaded for the second run


def test_lora_on_differs_off_restores_exact_pixels(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    before = run_txt2img(manager, small_request())
    loads = manager.loads_from_disk
    with_a = run_txt2img(manager, small_request(prompt="a photo of a cat <lora:tiny-lora-a:1>"))
    with_b = run_txt2img(manager, small_request(prompt="a photo of a cat <lora:tiny-lora-b:0.8>"))
    both = run_txt2img(manager, small_request(
        prompt="a photo of a cat <lora:tiny-lora-a:1> <lora:tiny-lora-b:0.8>"))
    after = run_txt2img(manager, small_request())
    assert not np.array_equal(px(before), px(with_a))
    assert not np.array_equal(px(with_a), px(with_b))
    assert not np.array_equal(px(both), px(with_a)) and not np.array_equal(px(both), px(with_b))
    assert np.array_equal(px(before), px(after))  # bit-identical once the LoRA is off
    assert manager.loads_from_disk == loads  # the base was never reloaded
    text = with_a.images[0].infotext
    assert text.startswith("a photo of a cat <lora:tiny-lora-a:1>\n")  # tag kept in infotext
    hashes = parse_infotext(both.images[0].infotext)["params"]["Lora hashes"]
    assert hashes.startswith("tiny-lora-a: ") and ", tiny-lora-b: " in hashes


def test_lora_tag_parsing():
    assert extract_lora_tags("a cat <lora:style:0.7>, red") == ("a cat, red", [("style", 0.7)])
    assert extract_lora_tags("<lora:x> dog <LORA:y:-1>") == ("dog", [("x", 1.0), ("y", -1.0)])
    assert extract_lora_tags("no tags") == ("no tags", [])


def test_missing_lora_is_a_clear_error(tiny_models_dir):
    from webui.models.registry import ModelNotFound

    manager = manager_for(tiny_models_dir)
    with pytest.raises(ModelNotFound, match="LoRA 'nope' not found"):
        run_txt2img(manager, small_request(prompt="cat <lora:nope:1>"))


def test_vae_override_changes_pixels_and_is_recorded(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    plain = run_txt2img(manager, small_request())
    other = run_txt2img(manager, small_request(vae="tiny-vae-alt"))
    again = run_txt2img(manager, small_request())
    assert not np.array_equal(px(plain), px(other))
    assert np.array_equal(px(plain), px(again))  # the checkpoint's own VAE comes back
    params = parse_infotext(other.images[0].infotext)["params"]
    assert params["VAE"] == "tiny-vae-alt" and len(params["VAE hash"]) == 10


def test_fp16_overflowing_vae_is_decoded_again_upcast(tiny_models_dir):
    """A VAE whose fp16 decode overflows to inf/NaN gives a real image, not a black one."""
    import copy

    manager = manager_for(tiny_models_dir)
    pipe = manager.preload("tiny-sdxl-a").pipe
    vae16 = copy.deepcopy(pipe.vae)
    with torch.no_grad():
        vae16.post_quant_conv.weight.mul_(2e4)  # activations beyond fp16's 65504
    vae32 = copy.deepcopy(vae16)
    vae16.to(torch.float16)
    vae16.register_to_config(force_upcast=False)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        raw = vae16.decode(latents.half() / vae16.config.scaling_factor).sample
    assert not torch.isfinite(raw).all()  # the plain fp16 decode really breaks
    image = np.asarray(decode_latents(pipe, vae16, latents)[0], dtype=np.int16)
    ref = np.asarray(decode_latents(pipe, vae32, latents)[0], dtype=np.int16)
    assert np.abs(image - ref).max() <= 2
    assert vae16.dtype == torch.float16  # put back as it was


def test_tiled_decode_for_large_images(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    pipe = manager.preload("tiny-sdxl-a").pipe
    latents = torch.randn(1, 4, 40, 40, generator=torch.Generator().manual_seed(0))
    whole = np.asarray(decode_latents(pipe, pipe.vae, latents), dtype=np.int16)
    tiled = np.asarray(decode_latents(pipe, pipe.vae, latents, tile_above=64 * 64),
                       dtype=np.int16)
    assert whole.shape == tiled.shape == (1, 320, 320, 3)
    assert not pipe.vae.use_tiling  # switched off again after the job


def test_cache_budget_flag():
    assert parse_cache_budget("3") == (3, None)
    assert parse_cache_budget("12GB") == (None, 12 * 2**30)
    assert parse_cache_budget("512mb") == (None, 512 * 2**20)
    count, size = parse_cache_budget(None)
    assert count is None and size > 0
    with pytest.raises(ValueError, match="count .* or a size"):
        parse_cache_budget("lots")


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


@pytest.mark.parametrize("budget", ["3", "2"])
def test_twenty_switches_do_not_grow_memory(tiny_models_dir, budget):
    """20 switches among 3 checkpoints: RSS stays within 5% of the level after round one
    (with room for all three, and with a budget of two that evicts and reloads)."""
    manager = manager_for(tiny_models_dir, cache=budget)
    names = ["tiny-sdxl-a", "tiny-sdxl-b", "tiny-sdxl-c"]
    for name in names:
        run_txt2img(manager, small_request(model=name, steps=1))
    level = rss()
    cuda_level = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    for i in range(20):
        run_txt2img(manager, small_request(model=names[i % 3], steps=1))
    grown = rss() - level
    assert grown < 0.05 * level, f"RSS grew by {grown / 2**20:.1f} MiB from {level / 2**20:.0f}"
    if torch.cuda.is_available():  # pragma: no cover - no GPU on the CI machines
        assert torch.cuda.memory_allocated() <= 1.05 * cuda_level


def test_refiner_refuses_txt2img_with_clear_message(tiny_models_dir):
    manager = manager_for(tiny_models_dir)
    with pytest.raises(ModelLoadError, match="is an SDXL refiner: choose it as Refiner"):
        run_txt2img(manager, small_request(model="tiny-sdxl-refiner"))


def test_hub_id_offline_is_a_clear_error_without_network(tiny_models_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manager = manager_for(tiny_models_dir)
    with pytest.raises(ModelLoadError) as refused:
        manager.preload("stabilityai/stable-diffusion-xl-base-1.0")
    assert manager.cached_names() == []
    # complete in itself: what is wrong and both ways out, with the command to type
    said = str(refused.value)
    assert "hub id" in said and "runs offline (HF_HUB_OFFLINE is set)" in said
    assert "without HF_HUB_OFFLINE" in said
    assert ("hf download stabilityai/stable-diffusion-xl-base-1.0 --include" in said
            and "--local-dir stable-diffusion-xl-base-1.0" in said)
    assert "Stable-diffusion/" in said and "Refresh" in said
