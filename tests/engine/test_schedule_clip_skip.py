"""Schedule type, Clip skip and Skip (issue 12 item 9) through the real pipelines on the tiny
models: what a user notices is the picture (and its infotext) changing, or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import small_request
from webui.engine.core import job_models
from webui.engine.progress import JobProgress
from webui.engine.txt2img import run_txt2img
from webui.metadata.infotext import parse_infotext
from webui.prompting.encode import encode_prompt_pair
from webui.request import validate


def pixels(result, i: int = 0) -> np.ndarray:
    return np.asarray(result.images[i].image.convert("RGB"), dtype=np.int16)


def run(ctx, **kw):
    """A validated request run on the engine (validation splits combined sampler names)."""
    return run_txt2img(ctx.manager, validate(small_request(**kw), ctx.settings.limits))


def test_schedule_type_changes_the_picture_and_is_written_apart(ctx):
    auto = run(ctx, sampler="DPM++ 2M", steps=4, seed=7)
    karras = run(ctx, sampler="DPM++ 2M", scheduler="Karras", steps=4, seed=7)
    assert not np.array_equal(pixels(auto), pixels(karras))
    params = parse_infotext(karras.images[0].infotext)["params"]
    assert (params["Sampler"], params["Schedule type"]) == ("DPM++ 2M", "Karras")
    assert "Schedule type" not in parse_infotext(auto.images[0].infotext)["params"]
    # the name A1111 used before 1.9 (and the API name of the schedule) give the same picture
    for kw in ({"sampler": "DPM++ 2M Karras"}, {"sampler": "DPM++ 2M", "scheduler": "karras"}):
        assert np.array_equal(pixels(run(ctx, steps=4, seed=7, **kw)), pixels(karras))


def test_old_infotext_round_trip(ctx):
    """An infotext written with the combined name reads back into the same picture, and the
    new infotext says the same in A1111 1.9's words."""
    old = "a photo of a cat\nSteps: 3, Sampler: DPM++ 2M SDE Karras, CFG scale: 7, Seed: 11"
    params = parse_infotext(old)["params"]
    first = run(ctx, sampler=params["Sampler"], steps=3, seed=11)
    again_params = parse_infotext(first.images[0].infotext)["params"]
    assert (again_params["Sampler"], again_params["Schedule type"]) == ("DPM++ 2M SDE", "Karras")
    again = run(ctx, sampler=again_params["Sampler"], scheduler=again_params["Schedule type"],
                steps=3, seed=11)
    assert np.array_equal(pixels(first), pixels(again))
    assert again.images[0].infotext == first.images[0].infotext


def test_clip_skip_2_changes_the_picture_1_is_sdxl_default(ctx):
    default = run(ctx, seed=5, steps=3)
    one = run(ctx, seed=5, steps=3, clip_skip=1)
    two = run(ctx, seed=5, steps=3, clip_skip=2)
    assert np.array_equal(pixels(default), pixels(one))
    assert np.abs(pixels(one) - pixels(two)).mean() > 1
    assert "Clip skip" not in one.images[0].params  # A1111 writes it only when not 1
    assert parse_infotext(two.images[0].infotext)["params"]["Clip skip"] == "2"


def test_clip_skip_counts_as_a1111_does(ctx):
    """Ours is diffusers' ``clip_skip`` + 1: 1 is SDXL's penultimate layer (diffusers' own
    default), 2 one layer below, in both text encoders (checked against diffusers' encoder)."""
    req = validate(small_request(), ctx.settings.limits)
    with ctx.manager.prepare(job_models(req, ("txt2img",), [])) as bundle:
        pipe = bundle.pipes["txt2img"]
        for ours, theirs in ((1, None), (2, 1)):
            with torch.no_grad():
                mine = encode_prompt_pair(pipe, "a cat", "", clip_skip=ours)["prompt_embeds"]
                ref = pipe.encode_prompt("a cat", do_classifier_free_guidance=False,
                                         clip_skip=theirs)[0]
            assert torch.allclose(mine, ref, atol=1e-5), ours


def test_clip_skip_beyond_the_encoder_is_refused_plainly(ctx):
    from webui.errors import RequestError

    # the tiny models' encoders have 3 layers; SDXL's CLIP-L has 12 (validation allows 11)
    with pytest.raises(RequestError, match="clip skip 3 is too large for this model"):
        run(ctx, clip_skip=3)
    with pytest.raises(RequestError, match="clip skip must be between 1 and 11, got 12"):
        run(ctx, clip_skip=12)


def test_skip_keeps_the_image_as_it_was_and_goes_on(ctx):
    """A1111's Skip: the image being made is finished early (kept, as A1111 keeps it) and
    the next images of the batch count are made in full."""
    full = run(ctx, steps=6, seed=30, batch_count=3)
    progress = JobProgress()
    seen = []

    def skip_at_step_two(p):
        seen.append(p.done_steps)
        if p.done_steps == 2:
            p.skip()

    progress.listeners.append(skip_at_step_two)
    skipped = run_txt2img(ctx.manager, validate(small_request(steps=6, seed=30, batch_count=3),
                                                ctx.settings.limits), progress)
    assert not skipped.interrupted and [g.seed for g in skipped.images] == [30, 31, 32]
    assert seen == [1, 2, *range(3, 15)]  # 2 steps of the first image, 6 + 6 of the others
    assert not np.array_equal(pixels(skipped, 0), pixels(full, 0))  # kept as at step 2
    assert pixels(skipped, 0).std() > 1
    for i in (1, 2):
        assert np.array_equal(pixels(skipped, i), pixels(full, i))
    assert progress.skipped_images == 1
