"""Per-module device placement, proved on a stand-in device.

CPU runs never move a module, so these tests run the manager with ``device="meta"`` (weights
moved there keep shape and dtype but no values; the manager's RAM copies bring them back) and
check after each job where every parameter and buffer of every module is. The same sequence
runs on CUDA in ``benchmarks/gpu_bench.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import small_request
from webui.engine.txt2img import run_txt2img
from webui.models.bundle import JobModels
from webui.models.manager import ModelManager
from webui.models.placement import DevicePlacer, tensors_off
from webui.models.registry import ModelRegistry
from webui.testing.placement import (FINETUNE, INPAINT, run_placement_sequence,
                                     write_sequence_models)

META = torch.device("meta")


@pytest.fixture(scope="module")
def seq_models(tmp_path_factory):
    return write_sequence_models(tmp_path_factory.mktemp("placement-models"))


def meta_manager(models_dir, **kw) -> ModelManager:
    return ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), device="meta",
                        offload="none", cache="12", **kw)


@pytest.mark.parametrize("tight", [True, False], ids=["budget-holds-one-job", "roomy"])
def test_placement_sequence_on_a_stand_in_device(seq_models, tight):
    lines = run_placement_sequence(seq_models, "meta", tight=tight)
    assert len(lines) == 11


def test_refiner_job_then_base_job_keeps_shared_modules_on_device(seq_models):
    """The bug of the per-checkpoint manager: after base+refiner, a base-only job took the
    refiner off the device and with it text_encoder_2 and the VAE, which the base shares."""
    manager = meta_manager(seq_models, device_budget=0)  # nothing unused may stay
    with manager.prepare(JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner")) as job:
        refiner_unet = job.refiner.pipe.unet
        assert job.refiner.pipe.text_encoder_2 is job.base.pipe.text_encoder_2
    with manager.prepare(JobModels("tiny-sdxl-a")) as job:
        pipe = job.pipe
        for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
            assert not tensors_off(getattr(pipe, name), META), name
        assert not tensors_off(refiner_unet, torch.device("cpu"))  # only the refiner's own


def test_modules_come_back_from_the_device_intact(seq_models):
    """Off the device a module points at its RAM copy again: the same values as before."""
    manager = meta_manager(seq_models, device_budget=0)
    unet = manager.preload("tiny-sdxl-a").pipe.unet
    with manager.prepare(JobModels("tiny-sdxl-b")):  # budget 0: a's UNet must leave
        pass
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    assert all(v.device.type == "cpu" for v in before.values())
    with manager.prepare(JobModels("tiny-sdxl-a")):
        assert all(v.device.type == "meta" for v in unet.state_dict().values())
    with manager.prepare(JobModels("tiny-sdxl-b")):  # budget 0: a's UNet must leave
        pass
    after = unet.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_lru_by_bytes_within_the_budget(seq_models):
    """With room for two checkpoints' modules, the least recently used one leaves first."""
    manager = meta_manager(seq_models)
    sizes = {}
    for name in ("tiny-sdxl-a", "tiny-sdxl-b", "tiny-sdxl-c"):
        with manager.prepare(JobModels(name)) as job:
            sizes[name] = job.modules()
    placer = manager.placer
    total_ab = sum(placer._slots[id(m)].nbytes for n in ("tiny-sdxl-a", "tiny-sdxl-b")
                   for m in sizes[n])
    placer.budget = total_ab
    placer.evict_all()
    with manager.prepare(JobModels("tiny-sdxl-a")):
        pass
    with manager.prepare(JobModels("tiny-sdxl-b")):
        pass
    assert all(placer.is_on_device(m) for n in ("tiny-sdxl-a", "tiny-sdxl-b")
               for m in sizes[n])  # both fit: nothing moved off
    moves = placer.moves
    with manager.prepare(JobModels("tiny-sdxl-a")):  # cached on the device: no move
        pass
    assert placer.moves == moves
    with manager.prepare(JobModels("tiny-sdxl-c")):  # b is least recently used: b leaves
        pass
    assert all(placer.is_on_device(m) for m in sizes["tiny-sdxl-a"])
    assert not any(placer.is_on_device(m) for m in sizes["tiny-sdxl-b"])
    assert placer.bytes_on_device() <= total_ab


def test_jobs_never_mutate_cached_pipelines(seq_models):
    manager = meta_manager(seq_models)
    from webui.engine.samplers import make_scheduler

    lm = manager.preload("tiny-sdxl-a")
    scheduler, vae = lm.pipe.scheduler, lm.pipe.vae
    job = JobModels("tiny-sdxl-a", vae="tiny-vae-alt", refiner="tiny-sdxl-refiner",
                    make_scheduler=lambda cfg: make_scheduler("DPM++ 2M Karras", cfg))
    with manager.prepare(job) as bundle:
        assert type(bundle.pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
        assert bundle.pipe.vae is bundle.refiner_pipe.vae is not vae
        assert bundle.pipe is not lm.pipe
    assert lm.pipe.scheduler is scheduler and lm.pipe.vae is vae
    assert bundle.refiner.pipe.vae is vae  # the refiner's cached pipeline is untouched too


def test_in_use_modules_are_never_evicted(seq_models):
    manager = meta_manager(seq_models, device_budget=0)
    with manager.prepare(JobModels("tiny-sdxl-a")) as job:
        with pytest.raises(RuntimeError, match="in use by a running job"):
            with manager.placer.off_device(job.pipe.unet):
                pass
        assert not tensors_off(job.pipe.unet, META)


def test_lora_on_a_shared_text_encoder_does_not_leak_into_another_checkpoint(seq_models):
    """tiny-sdxl-a and its fine-tune share both text encoders: a LoRA loaded for a's job
    must be off in the fine-tune's next job (adapters are set per module, per job)."""
    manager = ModelManager(ModelRegistry(seq_models / "Stable-diffusion"), device="cpu")
    plain = run_txt2img(manager, small_request(model=FINETUNE, seed=5))
    run_txt2img(manager, small_request(model="tiny-sdxl-a",
                                       prompt="a photo of a cat <lora:tiny-lora-a:1>"))
    again = run_txt2img(manager, small_request(model=FINETUNE, seed=5))
    assert np.array_equal(np.asarray(plain.images[0].image), np.asarray(again.images[0].image))
    assert manager.loads_from_disk == 2


def test_inpainting_model_shares_the_base_encoders_and_refuses_other_modes(seq_models):
    manager = meta_manager(seq_models)
    with manager.prepare(JobModels("tiny-sdxl-a")) as a:
        te2 = a.pipe.text_encoder_2
    with manager.prepare(JobModels(INPAINT, modes=("inpaint",))) as job:
        assert job.pipe.text_encoder_2 is te2
        assert job.pipe.unet.config.in_channels == 9
    from webui.models.loader import ModelLoadError

    with pytest.raises(ModelLoadError, match="inpainting model"):
        with manager.prepare(JobModels(INPAINT)):
            pass


def test_placer_moves_nothing_on_the_cpu():
    module = torch.nn.Linear(4, 4)
    placer = DevicePlacer(torch.device("cpu"), budget=0)
    placer.track(module, "x")
    with placer.use([module]):
        pass
    assert placer.moves == 0 and placer.is_on_device(module)


def test_job_views_keep_the_cached_modules_dtype(seq_models):
    """An fp16 model stays fp16 through jobs (a from_pipe view would cast the shared
    modules to float32), and the views keep the refiner's aesthetic-score setting."""
    manager = meta_manager(seq_models, dtype="fp16")
    job = JobModels("tiny-sdxl-a", refiner="tiny-sdxl-refiner", modes=("txt2img", "img2img"))
    with manager.prepare(job) as bundle:
        modules = bundle.modules()
        assert bundle.refiner_pipe.config.requires_aesthetics_score is True
        assert bundle.pipes["img2img"].config.requires_aesthetics_score is False
    assert {next(m.parameters()).dtype for m in modules} == {torch.float16}


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_hooks_set_once_per_module_and_removed_after_the_job(seq_models, offload):
    """--offload model|sequential: accelerate's hooks go on each module of the job once
    (base and refiner share text_encoder_2 and the VAE), the picture is the same as without
    offload, and no hook or moved weight is left behind. Run with the CPU as the execution
    device (the hooks' logic is the same as on CUDA)."""
    plain = ModelManager(ModelRegistry(seq_models / "Stable-diffusion"), device="cpu")
    hooked = ModelManager(ModelRegistry(seq_models / "Stable-diffusion"), device="cpu")
    hooked.offload = offload  # auto never offloads on the CPU; force it for the test
    req = dict(model="tiny-sdxl-a", refiner="tiny-sdxl-refiner", steps=4)
    want = run_txt2img(plain, small_request(**req))
    got = run_txt2img(hooked, small_request(**req))
    assert np.array_equal(np.asarray(want.images[0].image), np.asarray(got.images[0].image))
    for module in hooked.placer.tracked():
        assert not any(hasattr(m, "_hf_hook") for m in module.modules())
        assert not tensors_off(module, torch.device("cpu"))  # weights back from meta
    again = run_txt2img(hooked, small_request(**req))  # and a second job works the same
    assert np.array_equal(np.asarray(want.images[0].image), np.asarray(again.images[0].image))
