"""Gradient checkpointing (on by default on CUDA) forced on for the CPU: the UNet and both text
encoders really recompute through ``torch.utils.checkpoint``, the loss and every LoRA
gradient match a run without it, training ends on the same weights, and the flag is given
back afterwards. Also the CUDA-only branches' choices, checked without a GPU."""

from __future__ import annotations

import contextlib
import sys
import types

import pytest
import torch

from tests.training.helpers import pattern
from webui.testing.tiny_models import build_pipeline
from webui.training.guard import checkpointing
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining, _step_seed

MODULES = ("unet", "text_encoder", "text_encoder_2")


def make_spec(**kw):
    base = dict(name="ckpt", images=tuple(pattern(i) for i in range(3)), steps=3, rank=4,
                conv_rank=2, resolution=64, learning_rate=1e-2, batch_size=2,
                train_text_encoders=True, seed=2)
    base.update(kw)
    return validate_spec(TrainingSpec(**base), None)


def first_step(run: LoraTraining) -> tuple[float, dict[str, torch.Tensor]]:
    """The loss and LoRA gradients of the run's first micro-step (no optimizer step)."""
    indices = run._batch(0)
    gen = torch.Generator().manual_seed(_step_seed(run.spec.seed, 0))
    latents, noise, timesteps = run._draw(indices, gen)
    pred, target = run._predict(indices, latents, noise, timesteps)
    loss = run._loss(pred, target, timesteps, indices)
    loss.backward()
    # (the last layer of text_encoder gets none: SDXL takes its penultimate layer's states)
    grads = {f"{name}.{n}": p.grad.detach().clone()
             for name in run.trained for n, p in getattr(run.pipe, name).named_parameters()
             if p.requires_grad and p.grad is not None}
    for name in run.trained:
        getattr(run.pipe, name).zero_grad(set_to_none=True)
    return float(loss.detach()), grads


@pytest.fixture
def counted(monkeypatch):
    """The modules whose forward went through torch.utils.checkpoint.checkpoint."""
    import torch.utils.checkpoint as tuc
    import transformers.modeling_utils as tmu

    real = tuc.checkpoint
    calls = []

    def counting(function, *args, **kwargs):
        owner = getattr(function, "__self__", None)  # a bound method (diffusers)
        if owner is None and getattr(function, "args", None):  # partial(forward, self)
            owner = function.args[0]
        calls.append(owner)
        assert kwargs.get("use_reentrant") is False  # LoRA grads need the non-reentrant kind
        return real(function, *args, **kwargs)

    monkeypatch.setattr(tuc, "checkpoint", counting)
    monkeypatch.setattr(tmu, "checkpoint", counting)  # transformers binds it at import
    return calls


def test_checkpointing_gives_the_same_loss_gradients_and_weights(tmp_path, counted):
    results = {}
    for on in (False, True):
        pipe = build_pipeline("base", 1)
        counted.clear()
        with LoraTraining(pipe, make_spec(), tmp_path / f"s{on}",
                          gradient_checkpointing=on) as run:
            assert run.checkpointing is on
            assert [checkpointing(getattr(pipe, n)) for n in MODULES] == [on] * 3
            loss, grads = first_step(run)
            called = {name for name in MODULES
                      if {id(m) for m in getattr(pipe, name).modules()} & set(map(id, counted))}
            outcome = run.train(resume=False)
            weights = run.lora_state()
        assert [checkpointing(getattr(pipe, n)) for n in MODULES] == [False] * 3  # given back
        assert run.changes() == {}
        results[on] = dict(loss=loss, grads=grads, losses=outcome.losses, weights=weights,
                           called=called)
    off, on = results[False], results[True]
    assert off["called"] == set()
    # blocks of the UNet and layers of both text encoders went through checkpoint
    assert on["called"] == set(MODULES)
    assert on["loss"] == pytest.approx(off["loss"], rel=1e-5)
    assert on["grads"].keys() == off["grads"].keys() and len(on["grads"]) > 50
    assert any(name.startswith("text_encoder_2.") for name in on["grads"])
    for name, g in off["grads"].items():
        torch.testing.assert_close(on["grads"][name], g, rtol=1e-4, atol=1e-6, msg=name)
    assert any(g.abs().max() > 0 for g in off["grads"].values())
    assert on["losses"] == pytest.approx(off["losses"], rel=1e-4)
    for part in off["weights"]:
        for k, w in off["weights"][part].items():
            torch.testing.assert_close(on["weights"][part][k], w, rtol=1e-4, atol=1e-6)


def test_cpu_defaults_and_the_cuda_only_branches(tmp_path):
    """Without CUDA: no checkpointing by default, plain AdamW (an AdamW8bit request falls
    back), no GradScaler and no autocast; the file says which optimizer ran."""
    pipe = build_pipeline("base", 1)
    spec = make_spec(optimizer="AdamW8bit", train_text_encoders=False, steps=1)
    with LoraTraining(pipe, spec, tmp_path / "s") as run:
        assert run.checkpointing is False
        assert run.optimizer_name == "AdamW" and type(run.optimizer) is torch.optim.AdamW
        assert run.scaler is None
        assert isinstance(run._autocast(), contextlib.nullcontext)
        outcome = run.train()
        assert outcome.optimizer == "AdamW"


class FakeAdamW8bit(torch.optim.AdamW):
    """Stands in for bitsandbytes' 8-bit AdamW (same interface)."""


@pytest.mark.filterwarnings("ignore:.*CUDA is not available")
@pytest.mark.parametrize("dtype,optimizer,bnb,want,scaler", [
    (torch.float16, "AdamW", True, "AdamW8bit", True),
    (torch.float16, "AdamW8bit", False, "AdamW", True),
    (torch.float16, "Prodigy", True, "Prodigy", True),  # a scaler whatever the optimizer
    (torch.bfloat16, "AdamW", True, "AdamW8bit", False),  # bf16 needs no loss scaling
    (torch.float32, "AdamW", False, "AdamW", False),
])
def test_cuda_branch_choices(tmp_path, monkeypatch, dtype, optimizer, bnb, want, scaler):
    """What the trainer picks on a CUDA device holding the base in ``dtype`` (the device is
    faked after entry: only the choices are checked, nothing runs on it)."""
    if bnb:
        fake = types.ModuleType("bitsandbytes")
        fake.optim = types.SimpleNamespace(AdamW8bit=FakeAdamW8bit)
        monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    else:
        monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import fails
    prodigy = types.ModuleType("prodigyopt")
    prodigy.Prodigy = type("Prodigy", (torch.optim.AdamW,), {})
    monkeypatch.setitem(sys.modules, "prodigyopt", prodigy)
    pipe = build_pipeline("base", 1)
    spec = make_spec(optimizer=optimizer, train_text_encoders=False, steps=1)
    with LoraTraining(pipe, spec, tmp_path / "s") as run:
        run.device, run.dtype = torch.device("cuda"), dtype
        run._make_optimizer()
        assert run.optimizer_name == want
        assert type(run.optimizer).__name__ == {"AdamW8bit": "FakeAdamW8bit"}.get(want, want)
        assert (run.scaler is not None) is scaler
        cast = run._autocast()
        if dtype == torch.float32:
            assert isinstance(cast, contextlib.nullcontext)
        else:
            assert cast.device == "cuda" and cast.fast_dtype == dtype


def test_the_loss_scaling_path_ends_on_the_same_weights(tmp_path):
    """The GradScaler path of the loop (scale, backward, unscale, clip, step, update), run
    with the CPU's scaler: powers of two scale exactly, so the weights match a run without
    it; a step whose gradients overflow is skipped and the scale backs off."""
    spec = make_spec(train_text_encoders=False)
    with LoraTraining(build_pipeline("base", 1), spec, tmp_path / "a") as run:
        run.train(resume=False)
        plain = run.lora_state()
    with LoraTraining(build_pipeline("base", 1), spec, tmp_path / "b") as run:
        run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
        run.train(resume=False)
        scaled = run.lora_state()
        assert run.scaler.get_scale() == 2.0 ** 12  # no overflow, no growth yet
    for k, w in plain["unet"].items():
        torch.testing.assert_close(scaled["unet"][k], w, rtol=1e-5, atol=1e-7)
    with LoraTraining(build_pipeline("base", 1), make_spec(steps=1, train_text_encoders=False),
                      tmp_path / "c") as run:
        run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
        run.trainable("unet")[0].register_hook(lambda g: g * float("inf"))  # an overflow
        outcome = run.train(resume=False)
        assert outcome.step == 1 and run.scaler.get_scale() == 2.0 ** 11
        untouched = run.lora_state()
    assert all(not v.any() for k, v in untouched["unet"].items() if "lora_B" in k)
