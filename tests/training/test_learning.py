"""The trainer learns, on the random tiny model: a fixed-set loss (the same noise and
timesteps before and after) falls by at least half, and pictures made with the trigger
prompt move at least twice as close to the training pictures (in latent space, same seeds).

The tiny model's random VAE has latents of spread ~0.28, far from what its SDXL scaling
factor assumes, so the pictures would drown in the noise: the factor is calibrated to the
latents first. Its UNet has attention only at the lowest resolution, so the LoRA covers the
convolutions too (kohya's conv_dim, "LoCon"); on real SDXL the attention-only default learns.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.training.helpers import pattern
from webui.testing.tiny_models import build_pipeline
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining

PROMPT = "a photo of ohwx person"
SEEDS = (0, 1, 2)


def calibrate_vae(pipe, images) -> float:
    """Set the VAE's scaling factor so the training latents have unit spread."""
    x = torch.stack([torch.from_numpy(np.asarray(im, dtype=np.float32) / 127.5 - 1)
                     .permute(2, 0, 1) for im in images])
    with torch.no_grad():
        spread = float(pipe.vae.encode(x).latent_dist.mean.std())
    pipe.vae.register_to_config(scaling_factor=1.0 / spread)
    return spread


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    pipe = build_pipeline("base", 1)
    images = [pattern(i) for i in range(3)]
    calibrate_vae(pipe, images)
    spec = validate_spec(TrainingSpec(name="learns", images=tuple(images), steps=250, rank=8,
                                      conv_rank=8, batch_size=3, learning_rate=3e-3,
                                      resolution=64, seed=0), None)
    with LoraTraining(pipe, spec, tmp_path_factory.mktemp("state")) as run:
        targets = [run.scaled_latents(i, None) for i in range(len(images))]
        base = [run.sample_latents(PROMPT, s, steps=10) for s in SEEDS]
        before = run.fixed_loss()
        outcome = run.train()
        after = run.fixed_loss()
        tuned = [run.sample_latents(PROMPT, s, steps=10) for s in SEEDS]
    return dict(targets=targets, base=base, tuned=tuned, before=before, after=after,
                outcome=outcome)


def nearest(latents: torch.Tensor, targets: list[torch.Tensor]) -> float:
    return min(float(((latents - t) ** 2).mean()) for t in targets)


def test_fixed_set_loss_falls_by_half(learned):
    print(f"fixed-set loss {learned['before']:.3f} -> {learned['after']:.3f}; "
          f"{learned['outcome'].step / learned['outcome'].seconds:.1f} steps/s")
    assert learned["after"] <= 0.5 * learned["before"]


def test_trigger_pictures_move_twice_as_close_to_the_training_pictures(learned):
    base = np.mean([nearest(z, learned["targets"]) for z in learned["base"]])
    tuned = np.mean([nearest(z, learned["targets"]) for z in learned["tuned"]])
    print(f"distance to the training latents: base {base:.2f}, with the LoRA {tuned:.2f}")
    assert tuned * 2 <= base
