"""Sample pictures with the adapter as it is now: the latents of ``sample_latents`` decoded by
the pipeline's VAE in fp32 (as the app decodes them), and the pipeline left as it was."""

from __future__ import annotations

import copy

import numpy as np
import torch

from tests.training.helpers import assert_same, pattern, snapshot
from webui.engine.core import decode_latents
from webui.testing.tiny_models import build_pipeline
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining

PROMPT = "a photo of ohwx person"


def spec(**kw):
    base = dict(name="samples", images=tuple(pattern(i) for i in range(3)), steps=3, rank=4,
                conv_rank=2, resolution=64, learning_rate=1e-2, seed=3)
    base.update(kw)
    return validate_spec(TrainingSpec(**base), None)


def test_sample_images_decode_the_sample_latents_and_follow_the_adapter(tmp_path):
    pipe = build_pipeline("base", 1)
    before = snapshot(pipe)
    mid = {}
    with LoraTraining(pipe, spec(), tmp_path / "state") as run:
        untrained = run.sample_images(PROMPT, [1, 2], steps=4)
        assert [im.size for im in untrained] == [(64, 64)] * 2
        assert all(im.mode == "RGB" for im in untrained)
        assert not np.array_equal(np.asarray(untrained[0]), np.asarray(untrained[1]))

        def on_sample(step):
            mid[step] = run.sample_images(PROMPT, [1], steps=4)[0]
        run.train(sample_every=3, on_sample=on_sample)
        latents = run.sample_latents(PROMPT, 1, steps=4)
        trained = run.sample_images(PROMPT, [1], steps=4, size=64)[0]
        bigger = run.sample_images(PROMPT, [1], steps=2, size=128)[0]
    # the same pictures as the app's own decoder gives for the same latents
    expected = decode_latents(pipe, pipe.vae, latents)[0]
    assert np.abs(np.asarray(trained, np.int16) - np.asarray(expected, np.int16)).max() <= 1
    assert np.array_equal(np.asarray(mid[3]), np.asarray(trained))  # during training too
    a, b = np.asarray(untrained[0], np.int16), np.asarray(trained, np.int16)
    assert np.abs(a - b).mean() > 0.5  # the adapter changed the picture
    assert bigger.size == (128, 128)
    assert run.changes() == {}
    assert_same(before, snapshot(pipe))


def test_a_half_precision_vae_decodes_in_fp32_and_keeps_its_dtype(tmp_path):
    pipe = build_pipeline("base", 1)
    pipe.vae.to(torch.bfloat16)
    with LoraTraining(pipe, spec(), tmp_path / "state") as run:
        image = run.sample_images(PROMPT, [4], steps=3)[0]
        latents = run.sample_latents(PROMPT, 4, steps=3)
        assert next(pipe.vae.parameters()).dtype == torch.bfloat16
    fp32 = copy.deepcopy(pipe.vae).float()
    expected = decode_latents(pipe, fp32, latents)[0]
    assert np.abs(np.asarray(image, np.int16) - np.asarray(expected, np.int16)).max() <= 1
    assert next(pipe.vae.parameters()).dtype == torch.bfloat16
