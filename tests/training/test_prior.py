"""Prior preservation: class pictures made by the base itself (before the adapter exists)
train along with the subject, captioned without the trigger, their loss weighted; the run
stays deterministic and resumable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.training.helpers import pattern
from webui.errors import RequestError
from webui.models.registry import read_safetensors_header
from webui.testing.tiny_models import build_pipeline
from webui.training.spec import MAX_PRIOR_IMAGES, TrainingSpec, validate_spec
from webui.training.trainer import (CLASS_GUIDANCE, CLASS_STEPS, LoraTraining, class_seed,
                                    train_lora, txt2img_images)

STEPS = 4


def make_spec(**kw) -> TrainingSpec:
    base = dict(name="prior", images=tuple(pattern(i) for i in range(3)), steps=STEPS, rank=4,
                conv_rank=2, resolution=64, learning_rate=5e-3, batch_size=2,
                gradient_accumulation=2, class_word="dog", prior_preservation=True, seed=7)
    base.update(kw)
    return validate_spec(TrainingSpec(**base), None)


def run_once(state_dir, spec, pipe=None, **train_kw):
    pipe = pipe or build_pipeline("base", 1)
    heard = []
    with LoraTraining(pipe, spec, state_dir,
                      on_class_image=lambda d, t: heard.append((d, t))) as run:
        outcome = run.train(**train_kw)
        return dict(outcome=outcome, weights=run.lora_state(), class_images=run.class_images,
                    heard=heard, run=run)


def pixels(images) -> list[np.ndarray]:
    return [np.asarray(im) for im in images]


def same_weights(a: dict, b: dict) -> bool:
    return all(torch.equal(a[p][k], b[p][k]) for p in a for k in a[p])


@pytest.fixture(scope="module")
def with_prior(tmp_path_factory):
    return run_once(tmp_path_factory.mktemp("prior"), make_spec())


def test_class_pictures_are_made_by_the_base_from_the_seed(with_prior):
    images = with_prior["class_images"]
    assert len(images) == 3 and [im.size for im in images] == [(64, 64)] * 3
    assert with_prior["heard"] == [(1, 3), (2, 3), (3, 3)]
    base = build_pipeline("base", 1)
    expected = txt2img_images(base, "a photo of dog", [class_seed(7, k) for k in range(3)],
                              CLASS_STEPS, 64, CLASS_GUIDANCE)
    for got, want in zip(pixels(images), pixels(expected)):
        assert np.array_equal(got, want)
    assert not np.array_equal(*pixels(images)[:2])  # a different seed each


def test_count_follows_prior_images(tmp_path):
    pipe = build_pipeline("base", 1)
    with LoraTraining(pipe, make_spec(prior_images=5, steps=1), tmp_path / "s") as run:
        assert len(run.class_images) == 5
        assert len(run.examples) == 8 and run.instance_count == 3
        assert {run.examples[i].caption for i in range(3, 8)} == {"a photo of dog"}
        assert all("ohwx" in run.examples[i].caption for i in range(3))
        # every epoch: all training pictures and as many class pictures, taken in turn
        assert run._epoch_members(0) == [0, 1, 2, 3, 4, 5]
        assert run._epoch_members(1) == [0, 1, 2, 6, 7, 3]
        used = sorted(i for b in run._epoch_batches(1) for i in b)
        assert used == [0, 1, 2, 3, 6, 7]
    with LoraTraining(pipe, make_spec(prior_preservation=False), tmp_path / "t") as run:
        assert run.class_images == [] and len(run.examples) == 3


def test_class_loss_is_weighted(tmp_path):
    pipe = build_pipeline("base", 1)
    with LoraTraining(pipe, make_spec(prior_loss_weight=0.25, steps=1), tmp_path / "s") as run:
        pred, target = torch.ones(2, 4, 8, 8), torch.zeros(2, 4, 8, 8)
        t = torch.tensor([500, 500])
        subject = float(run._loss(pred, target, t, [0, 1]))
        mixed = float(run._loss(pred, target, t, [0, 3]))
        assert mixed == pytest.approx(subject * (1 + 0.25) / 2)


def test_prior_changes_the_result_and_is_deterministic(with_prior, tmp_path):
    again = run_once(tmp_path / "a", make_spec())
    assert same_weights(again["weights"], with_prior["weights"])
    assert again["outcome"].losses == with_prior["outcome"].losses
    for a, b in zip(pixels(again["class_images"]), pixels(with_prior["class_images"])):
        assert np.array_equal(a, b)
    without = run_once(tmp_path / "b", make_spec(prior_preservation=False))
    assert without["class_images"] == []
    assert not same_weights(without["weights"], with_prior["weights"])
    heavier = run_once(tmp_path / "c", make_spec(prior_loss_weight=3.0))
    assert not same_weights(heavier["weights"], with_prior["weights"])


def test_stop_and_resume_equal_an_uninterrupted_run(with_prior, tmp_path):
    flag = {"stop": False}

    def progress(step, total, loss):
        flag["stop"] = step >= 1

    outcome, path = train_lora(build_pipeline("base", 1), make_spec(), tmp_path / "Lora",
                               tmp_path / "state", progress=progress,
                               should_stop=lambda: flag["stop"])
    assert outcome.stopped and outcome.step == 1 and path is None
    outcome, path = train_lora(build_pipeline("base", 1), make_spec(), tmp_path / "Lora",
                               tmp_path / "state")
    assert outcome.done and outcome.losses == with_prior["outcome"].losses
    resumed = run_once(tmp_path / "state", make_spec())  # loads the final state, no step
    assert same_weights(resumed["weights"], with_prior["weights"])
    meta = read_safetensors_header(path)["__metadata__"]
    assert meta["ss_num_reg_images"] == "3" and meta["ss_prior_loss_weight"] == "1"
    assert '"1_dog"' in meta["ss_reg_dataset_dirs"]


def test_fingerprint_includes_the_setting(tmp_path):
    run_once(tmp_path / "s", make_spec(steps=1))
    with pytest.raises(RequestError, match="other images or settings"):
        run_once(tmp_path / "s", make_spec(steps=2, prior_loss_weight=0.5))
    with pytest.raises(RequestError, match="other images or settings"):
        run_once(tmp_path / "s", make_spec(steps=2, prior_preservation=False))


@pytest.mark.parametrize("field,value,match", [
    ("prior_images", MAX_PRIOR_IMAGES + 1, "prior images must be between 0 and 200"),
    ("prior_images", -1, "prior images must be between"),
    ("prior_loss_weight", 0, "prior loss weight must be between"),
    ("prior_loss_weight", 11, "prior loss weight must be between"),
])
def test_bad_prior_settings_are_refused(field, value, match):
    with pytest.raises(RequestError, match=match):
        make_spec(**{field: value})


def test_prior_images_default_to_the_training_pictures_and_cap_at_200():
    assert make_spec().class_count == 3
    assert make_spec(prior_images=MAX_PRIOR_IMAGES).class_count == MAX_PRIOR_IMAGES
    assert make_spec(prior_preservation=False, prior_images=9).class_count == 0
