"""The loss follows the scheduler's prediction type: noise for epsilon models, velocity for
v-prediction ones (the project's demo model); the file says which."""

from __future__ import annotations

import pytest
import torch

from tests.training.helpers import pattern
from webui.models.registry import read_safetensors_header
from webui.testing.tiny_models import build_pipeline
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining


def pipeline(prediction_type: str):
    from diffusers import EulerDiscreteScheduler

    pipe = build_pipeline("base", 1)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config,
                                                        prediction_type=prediction_type)
    return pipe


@pytest.mark.parametrize("prediction_type,meta", [("epsilon", "epsilon"), ("v_prediction", "v")])
def test_target_and_metadata_follow_the_prediction_type(prediction_type, meta, tmp_path):
    pipe = pipeline(prediction_type)
    spec = validate_spec(TrainingSpec(name="p", images=tuple(pattern(i) for i in range(3)),
                                      steps=2, rank=2, resolution=64), tmp_path / "Lora")
    with LoraTraining(pipe, spec, tmp_path / "state") as run:
        latents = run.scaled_latents(0, None)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([600])
        _, target = run._predict([0], latents, noise, t)
        velocity = run.noise_scheduler.get_velocity(latents, noise, t)
        expected = velocity if prediction_type == "v_prediction" else noise
        torch.testing.assert_close(target, expected)
        assert not torch.allclose(velocity, noise, atol=1e-2)
        outcome = run.train()
        assert all(torch.isfinite(torch.tensor(outcome.losses)))
        path = run.save(tmp_path / "Lora", outcome)
    header = read_safetensors_header(path)["__metadata__"]
    assert header["modelspec.prediction_type"] == meta
    assert header["ss_v_parameterization"] == str(prediction_type == "v_prediction")
    assert pipe.scheduler.config.prediction_type == prediction_type  # the pipeline's own kept
