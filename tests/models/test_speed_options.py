"""GPU speed options, checked on the CPU for what they change: the same pictures, the memory
format and attention processors asked for, LoRA changes that do not recompile, and the
fp16-fix VAE chosen on fp16. Their speed is measured by benchmarks/gpu_bench.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.helpers import small_request
from webui.engine.txt2img import run_txt2img
from webui.models.bundle import JobModels
from webui.models.manager import ModelManager
from webui.models.registry import ModelRegistry


def manager_for(models_dir, **kw) -> ModelManager:
    kw.setdefault("device", "cpu")
    return ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), **kw)


def px(result):
    return np.asarray(result.images[0].image, dtype=np.int16)


def close(a, b, tol=2):
    return np.abs(px(a) - px(b)).max() <= tol


PROMPTS = ["a photo of a cat", "a photo of a cat <lora:tiny-lora-a:1>",
           "a photo of a cat <lora:tiny-lora-b:0.8>", "a photo of a cat"]


def processors(unet) -> set[str]:
    return {type(p).__name__ for p in unet.attn_processors.values()}


@pytest.mark.slow
def test_compiled_unet_switches_loras_without_recompiling(tiny_models_dir):
    """--compile: LoRAs are hotswapped into adapter slots and weighted in place, so after
    the first LoRA (which adds the slot) switching and turning off recompile nothing."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    eager = manager_for(tiny_models_dir)
    compiled = manager_for(tiny_models_dir, compile="aot_eager")  # graphs without codegen
    graphs = []
    for prompt in PROMPTS:
        got = run_txt2img(compiled, small_request(prompt=prompt))
        want = run_txt2img(eager, small_request(prompt=prompt))
        assert close(got, want), prompt
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[2] == graphs[3] == graphs[1] > 0, graphs
    assert not close(run_txt2img(compiled, small_request(prompt=PROMPTS[1])),
                     run_txt2img(compiled, small_request(prompt=PROMPTS[0])), tol=0)


def test_channels_last_and_sdpa_attention_give_the_same_picture(tiny_models_dir):
    plain = manager_for(tiny_models_dir, channels_last=False)
    fast = manager_for(tiny_models_dir, channels_last=True)
    a = run_txt2img(plain, small_request())
    b = run_txt2img(fast, small_request())
    assert close(a, b)
    unet = fast.current.pipe.unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.current.pipe.unet.conv_in.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert processors(unet) == {"AttnProcessor2_0"}  # PyTorch SDPA


def test_fused_qkv_same_picture_and_unfused_for_loras(tiny_models_dir):
    plain = manager_for(tiny_models_dir)
    fused = manager_for(tiny_models_dir, fuse_qkv=True)
    results = []
    for prompt in PROMPTS:
        got = run_txt2img(fused, small_request(prompt=prompt))
        assert close(got, run_txt2img(plain, small_request(prompt=prompt))), prompt
        results.append(processors(fused.current.pipe.unet))
    assert results == [{"FusedAttnProcessor2_0"}, {"AttnProcessor2_0"}, {"AttnProcessor2_0"},
                       {"FusedAttnProcessor2_0"}]


@pytest.fixture
def fp16_fix_models(tiny_models_dir, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "Stable-diffusion" / "tiny-sdxl-a",
                    root / "Stable-diffusion" / "tiny-sdxl-a")
    vae_dir = root / "VAE"
    vae_dir.mkdir()
    src = tiny_models_dir / "VAE" / "tiny-vae-alt.safetensors"
    shutil.copy(src, vae_dir / "sdxl-vae-fp16-fix.safetensors")
    shutil.copytree(src.with_suffix(".config"), vae_dir / "sdxl-vae-fp16-fix.config")
    return root


def test_fp16_fix_vae_is_used_on_fp16_when_present(fp16_fix_models):
    fp16 = manager_for(fp16_fix_models, device="meta", dtype="fp16")
    with fp16.prepare(JobModels("tiny-sdxl-a")) as job:
        assert job.params["VAE"] == "sdxl-vae-fp16-fix"
        assert job.vae is not job.base.pipe.vae
        assert job.vae.config.force_upcast is False  # no fp32 upcast needed
    with fp16.prepare(JobModels("tiny-sdxl-a", vae="sdxl-vae-fp16-fix")) as job:
        assert job.params["VAE"] == "sdxl-vae-fp16-fix"
    fp32 = manager_for(fp16_fix_models)  # fp32 never needs it: the checkpoint's own VAE
    with fp32.prepare(JobModels("tiny-sdxl-a")) as job:
        assert "VAE" not in job.params and job.vae is job.base.pipe.vae
