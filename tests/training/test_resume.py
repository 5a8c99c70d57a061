"""Stop keeps the state reached; Resume continues it to the same weights as an uninterrupted
run; the same seed gives the same weights."""

from __future__ import annotations

import pytest
import torch

from tests.training.helpers import pattern
from webui.errors import RequestError
from webui.testing.tiny_models import build_pipeline
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining, train_lora

STEPS = 6


def make_spec(**kw) -> TrainingSpec:
    # a wide picture among square ones: two buckets; batches of 2 with accumulation 2
    images = (pattern(0), pattern(1), pattern(2, 96, 64), pattern(3), pattern(4, 96, 64))
    base = dict(name="resumed", images=images, steps=STEPS, rank=4, conv_rank=2,
                resolution=64, learning_rate=5e-3, batch_size=2, gradient_accumulation=2,
                train_text_encoders=True, seed=11)
    base.update(kw)
    return validate_spec(TrainingSpec(**base), None)


def weights(state_dir, spec, pipe=None, **train_kw):
    pipe = pipe or build_pipeline("base", 1)
    with LoraTraining(pipe, spec, state_dir) as run:
        outcome = run.train(**train_kw)
        return outcome, run.lora_state()


def assert_equal_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for part in a:
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return weights(tmp_path_factory.mktemp("whole"), make_spec())


def test_stop_then_resume_equals_an_uninterrupted_run(uninterrupted, tmp_path):
    whole, expected = uninterrupted
    assert whole.done and len(whole.losses) == STEPS
    stop_at = 2
    flag = {"stop": False}

    def progress(step, total, loss):
        flag["stop"] = step >= stop_at

    lora_dir = tmp_path / "Lora"
    pipe = build_pipeline("base", 1)
    outcome, path = train_lora(pipe, make_spec(), lora_dir, tmp_path / "state",
                               progress=progress, should_stop=lambda: flag["stop"])
    assert outcome.stopped and outcome.step == stop_at and path is None
    assert not lora_dir.exists() or not any(lora_dir.iterdir())  # a stopped run writes no LoRA
    assert {p.name for p in (tmp_path / "state").iterdir()} == {
        "adapter.safetensors", "optimizer.pt", "state.json"}
    # resumed on a fresh pipeline (as after a restart of the app)
    outcome, path = train_lora(build_pipeline("base", 1), make_spec(), lora_dir,
                               tmp_path / "state")
    assert outcome.done and outcome.step == STEPS and not outcome.stopped
    assert outcome.losses == pytest.approx(whole.losses, abs=0)
    assert path == lora_dir / "resumed.safetensors" and path.is_file()
    _, resumed = weights(tmp_path / "state", make_spec())  # loads the final state, no step
    assert_equal_weights(resumed, expected)


def test_same_seed_same_weights_other_seed_differs(uninterrupted, tmp_path):
    _, expected = uninterrupted
    _, again = weights(tmp_path / "a", make_spec())
    assert_equal_weights(again, expected)
    _, other = weights(tmp_path / "b", make_spec(seed=12))
    assert any(not torch.equal(other["unet"][k], expected["unet"][k]) for k in expected["unet"])


def test_stop_before_the_first_step_keeps_a_resumable_state(tmp_path):
    outcome, state = weights(tmp_path / "s", make_spec(), should_stop=lambda: True)
    assert outcome.stopped and outcome.step == 0
    assert all(not v.any() for k, v in state["unet"].items() if "lora_B" in k)  # untrained


def test_resume_with_other_settings_is_refused(uninterrupted, tmp_path):
    weights(tmp_path / "s", make_spec(steps=1))
    with pytest.raises(RequestError, match="other images or settings"):
        weights(tmp_path / "s", make_spec(learning_rate=1e-3))
    more, _ = weights(tmp_path / "s", make_spec(steps=2))  # more steps: allowed
    assert more.step == 2 and len(more.losses) == 2
