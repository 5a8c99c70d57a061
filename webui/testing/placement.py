"""The placement sequence: proves per-module device placement without (or with) a GPU.

A manager on a stand-in device (``meta``: weights moved there keep their shape, dtype and
device but no values; the manager's RAM copies bring them back) or on CUDA runs a sequence of
jobs that share modules in every way SDXL checkpoints do, and after each step checks:

* every parameter and buffer of every module the job calls is on the job's device;
* with a device budget that holds just the job, nothing else is on the device; with a roomy
  one, the bytes on the device stay within the budget;
* no checkpoint file was read a second time.

``run_placement_sequence`` is used by the tests (on ``meta``) and by
``benchmarks/gpu_bench.py`` (on CUDA).
"""

from __future__ import annotations

from pathlib import Path

import torch

from webui.models.bundle import JobModels
from webui.models.placement import tensors_off

FINETUNE = "tiny-sdxl-a-finetune"  # tiny-sdxl-a's text encoders and VAE, its own UNet
INPAINT = "tiny-sdxl-a-inpaint"  # a 9-channel UNet with tiny-sdxl-a's encoders and VAE

#: (label, job): base+refiner -> base -> a fine-tune sharing text encoders/VAE ->
#: base+refiner+VAE override -> inpainting model -> LoRA on -> LoRA off -> first base again
SEQUENCE: list[tuple[str, JobModels]] = [
    ("base + refiner", JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner")),
    ("base alone", JobModels("tiny-sdxl-a")),
    ("fine-tune sharing encoders and VAE", JobModels(FINETUNE)),
    ("other base", JobModels("tiny-sdxl-b")),
    ("base + refiner + VAE override",
     JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner", vae="tiny-vae-alt")),
    ("inpainting model", JobModels(INPAINT, modes=("inpaint",))),
    ("base + LoRA", JobModels("tiny-sdxl-a", loras=(("tiny-lora-a", 1.0),))),
    ("fine-tune + LoRA", JobModels(FINETUNE, loras=(("tiny-lora-a", 0.5),))),
    ("base, LoRA off", JobModels("tiny-sdxl-a")),
    ("hires fix (txt2img + img2img)", JobModels("tiny-sdxl-a", modes=("txt2img", "img2img"))),
    ("first job again", JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner")),
]


def write_sequence_models(models_dir: Path | str) -> Path:
    """The tiny models plus a fine-tune and an inpainting model that share tiny-sdxl-a's
    text encoders and VAE (as real SDXL fine-tunes and SDXL inpainting 0.1 do)."""
    from diffusers import StableDiffusionXLInpaintPipeline

    from webui.testing.tiny_models import build_pipeline, write_tiny_models

    root = Path(models_dir)
    write_tiny_models(root)
    base = build_pipeline("base", 1)
    finetune = type(base)(**{**base.components, "unet": build_pipeline("base", 4).unet})
    finetune.save_pretrained(root / "Stable-diffusion" / FINETUNE, safe_serialization=True)
    inpaint_unet = build_pipeline("base", 5, in_channels=9).unet
    inpaint = StableDiffusionXLInpaintPipeline(**{**base.components, "unet": inpaint_unet})
    inpaint.save_pretrained(root / "Stable-diffusion" / INPAINT, safe_serialization=True)
    return root


def _active_adapters(module) -> set[str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for m in module.modules():
        if isinstance(m, BaseTunerLayer):
            return set() if m.disable_adapters else set(m.active_adapters)
    return set()


def check_step(manager, bundle, label: str, tight: bool) -> str:
    """Assert the placement of one prepared job; return a one-line report."""
    device = manager.placer.device
    job = bundle.modules()
    for module in job:
        wrong = tensors_off(module, device)
        assert not wrong, (f"{label}: {type(module).__name__} of the job has "
                           f"{len(wrong)} tensors off {device}, e.g. {wrong[:3]}")
    job_ids = {id(m) for m in job}
    others = [m for m in manager.placer.tracked() if id(m) not in job_ids]
    cpu = torch.device("cpu")
    for module in others:
        off_cpu = tensors_off(module, cpu)
        if tight:
            assert not off_cpu, (f"{label}: {type(module).__name__} is not used by the job "
                                 f"but {len(off_cpu)} of its tensors are on the device")
        else:  # a module is wholly on one device, never split
            assert not off_cpu or not tensors_off(module, device), \
                f"{label}: {type(module).__name__} is split between devices"
    used = manager.placer.bytes_on_device()
    budget = manager.placer.budget
    assert budget is None or used <= max(budget, sum(
        manager.placer._slots[id(m)].nbytes for m in job)), f"{label}: over the budget"
    loras = _active_adapters(bundle.base.pipe.unet)
    return (f"{label:38s} job modules {len(job)}, on device {used / 2**20:8.1f} MiB, "
            f"other modules {len(others)}, LoRA adapters active {sorted(loras) or '-'}")


def run_placement_sequence(models_dir: Path, device: str = "meta", tight: bool = True,
                           **manager_kwargs) -> list[str]:
    """Run :data:`SEQUENCE` on a manager placing on ``device``; raise AssertionError on the
    first placement bug. ``models_dir`` must hold :func:`write_sequence_models`' models.
    ``tight``: the device budget is set, per step, to exactly the job's bytes."""
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    models_dir = Path(models_dir)
    manager = ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), device=device,
                           offload="none", cache="12", **manager_kwargs)
    lines = []
    seen: set[str] = set()
    for label, job in SEQUENCE:
        if tight:
            manager.placer.budget = 0  # set below, once the job's modules are known
        with manager.prepare(job) as bundle:
            if tight:
                need = sum(manager.placer._slots[id(m)].nbytes for m in bundle.modules())
                manager.placer.budget = need
            lines.append(check_step(manager, bundle, label, tight))
            active = _active_adapters(bundle.base.pipe.unet)
            if job.loras and not manager.speed.compile:
                assert active == {"tiny_lora_a"}, f"{label}: LoRA not active ({active})"
            elif not job.loras:
                assert not active, f"{label}: a LoRA is still active ({active})"
        seen |= {job.checkpoint} | ({job.refiner} if job.refiner else set())
        assert manager.loads_from_disk == len(seen), \
            f"{label}: {manager.loads_from_disk} checkpoint reads for {len(seen)} checkpoints"
    return lines
