"""Generation on Ray Serve workers through the app's one run path (JobRunner): jobs spread
over both workers, checkpoint affinity, the same pixels as in-process, Stop and previews of
a remote job, a worker killed mid-job. One real local cluster for the module (conftest)."""

from __future__ import annotations

import os
import signal
import threading
import time

from dataclasses import replace

import numpy as np
import pytest
import ray
from PIL import Image, ImageDraw, ImageOps

from tests.helpers import Snapshot, small_request
from webui.backends import WorkerLost
from webui.controlnet.units import ControlUnit
from webui.errors import RequestError
from webui.engine.progress import JobProgress


def wait_until(cond, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def run_all(ctx, jobs):
    """Run ``[(owner, request), ...]`` at once, each in its thread; outcomes in order."""
    out, errors = [None] * len(jobs), []

    def one(i, owner, req):
        try:
            out[i] = ctx.jobs.run(req, owner)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i, o, r)) for i, (o, r) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    return out


def stats(ctx):
    """The live workers' counters (a killed worker's last words are left out)."""
    return ctx.jobs.backend.worker_stats()


def test_jobs_of_several_users_spread_over_both_workers(ray_ctx):
    backend = ray_ctx.jobs.backend
    assert backend.slots == 2 and ray_ctx.jobs.queue.slots == 2
    wait_until(lambda: len(stats(ray_ctx)) == 2, 300, "two workers")
    before = {n: s["jobs"] for n, s in stats(ray_ctx).items()}
    rows = ray_ctx.store.count()
    # 4 users, 2 jobs each, on one checkpoint: a job waits for the worker holding it only
    # for Serve's matching window, then goes to the idle one
    jobs = [(f"user{u}", small_request(seed=100 + 10 * u + j, steps=12, width=128, height=128))
            for u in range(4) for j in range(2)]
    outcomes = run_all(ray_ctx, jobs)
    assert all(len(o.saved) == 1 and not o.result.interrupted for o in outcomes)
    assert [o.result.images[0].seed for o in outcomes] == [r.seed for _, r in jobs]
    assert ray_ctx.store.count() == rows + 8
    ran = {n: s["jobs"] - before.get(n, 0) for n, s in stats(ray_ctx).items()}
    assert sum(ran.values()) == 8
    assert all(n > 0 for n in ran.values()), f"one worker did all the jobs: {ran}"


def test_alternating_checkpoints_load_nothing_after_warm_up(ray_ctx):
    """Each worker holds one checkpoint (--ray-models-per-worker 1): after a warm-up that
    puts tiny-sdxl-a on one worker and tiny-sdxl-b on the other, alternating jobs go to the
    worker that holds theirs, so no checkpoint is read from disk again."""
    a, b = "tiny-sdxl-a", "tiny-sdxl-b"

    def placed():
        return sorted(tuple(s["cached"]) for s in stats(ray_ctx).values()) == [(a,), (b,)]

    for _ in range(6):  # warm-up: both at once, so both workers are busy and each takes one
        if placed():
            break
        run_all(ray_ctx, [("warm-a", small_request(model=a, steps=12, width=128, height=128)),
                          ("warm-b", small_request(model=b, steps=12, width=128, height=128))])
    assert placed(), stats(ray_ctx)
    time.sleep(1.0)  # the router hears which worker holds which checkpoint
    loads = sum(s["loads_from_disk"] for s in stats(ray_ctx).values())
    holder = {s["cached"][0]: n for n, s in stats(ray_ctx).items()}
    jobs_before = {n: s["jobs"] for n, s in stats(ray_ctx).items()}
    for i in range(6):
        model = (a, b)[i % 2]
        out = ray_ctx.jobs.run(small_request(model=model, seed=i), "alice")
        assert out.result.model_name == model and len(out.saved) == 1
    after = stats(ray_ctx)
    assert sum(s["loads_from_disk"] for s in after.values()) == loads, after
    assert {n: s["jobs"] - jobs_before[n] for n, s in after.items()} == {
        holder[a]: 3, holder[b]: 3}


def square_edges_unit(ctx):
    """A canny unit on the tiny ControlNet: a white square's edges on black."""
    picture = Image.new("RGB", (96, 64), "black")
    ImageDraw.Draw(picture).rectangle((24, 16, 71, 47), fill="white")
    title = {m.name: m.title for m in ctx.manager.control_models()}["tiny-controlnet"]
    return ControlUnit(image=picture, module="canny", model=title, processor_res=64)


def test_same_seed_same_pixels_as_in_process(ray_ctx, control_models_dir, tmp_path):
    """Plain and with a ControlNet unit (its control map made on the worker): the worker's
    pictures are the in-process backend's, pixel for pixel, with the same infotext."""
    import torch

    from webui.app import create_context
    from webui.config import Settings

    plain = small_request(seed=4242, steps=4, width=96, height=64, prompt="a red house")
    guided = replace(plain, control_units=(square_edges_unit(ray_ctx),))
    remote = [ray_ctx.jobs.run(req, "bob").result for req in (plain, guided)]
    local_ctx = create_context(Settings(models_dir=control_models_dir,
                                        outputs_dir=tmp_path / "o", data_dir=tmp_path / "d",
                                        device="cpu"))
    assert local_ctx.jobs.backend.name == "local"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker reserving one CPU runs (float sums in one order)
    try:
        local = [local_ctx.jobs.run(req, "bob").result for req in (plain, guided)]
    finally:
        torch.set_num_threads(threads)
    for r, l_ in zip((res.images[0] for res in remote), (res.images[0] for res in local)):
        assert r.image.size == l_.image.size == (96, 64)
        assert np.array_equal(np.asarray(r.image), np.asarray(l_.image))
        assert r.infotext == l_.infotext and r.params == l_.params and r.seed == l_.seed == 4242
    assert "ControlNet 0" in remote[1].images[0].params
    assert not np.array_equal(np.asarray(remote[0].images[0].image),
                              np.asarray(remote[1].images[0].image))  # the unit acted


def test_an_extension_preprocessor_is_refused_on_workers(ray_ctx):
    """A preprocessor registered by an extension is a function of the app's process: a unit
    naming it is refused in plain words, nothing is written, and the next job runs."""
    ray_ctx.manager.preprocessors.sources.append(lambda: {"inverted": lambda img, *a:
                                                          ImageOps.invert(img)})
    try:
        unit = replace(square_edges_unit(ray_ctx), module="inverted")
        before = ray_ctx.store.count()
        with pytest.raises(RequestError, match="preprocessor 'inverted' comes from an "
                                               "extension .* only with --backend local"):
            ray_ctx.jobs.run(small_request(control_units=(unit,)), "erin")
        assert ray_ctx.store.count() == before
    finally:
        ray_ctx.manager.preprocessors.sources.pop()
    assert ray_ctx.jobs.run(small_request(seed=5), "erin").saved


def test_stop_and_previews_reach_a_remote_job(ray_ctx):
    snap_rows = ray_ctx.store.count()
    progress = JobProgress(preview_every=1)
    seen = []
    progress.listeners.append(lambda p: seen.append(p.done_steps))
    done = {}
    req = small_request(steps=150, width=256, height=256, seed=7)
    t = threading.Thread(target=lambda: done.setdefault(
        "out", ray_ctx.jobs.run(req, "carol", progress)))
    t.start()
    wait_until(lambda: progress.done_steps >= 3 and progress.preview is not None, 300,
               "the remote job's steps and a preview")
    assert progress.total_steps == 150 and progress.preview.size == (32, 32)  # 1/8 size
    assert ray_ctx.jobs.stop("carol")
    stopped_at = time.monotonic()
    t.join(60)
    assert not t.is_alive()
    out = done["out"]
    assert out.result.interrupted and not out.result.images
    assert time.monotonic() - stopped_at < 60
    assert progress.done_steps < 150 and seen == sorted(seen)
    assert ray_ctx.store.count() == snap_rows  # nothing recorded for a stopped first image


def test_a_workers_error_reaches_the_caller_as_raised(ray_ctx):
    """A checkpoint the workers' models folder lacks: the worker's ModelNotFound comes back
    as itself, with its message, and nothing is written."""
    from webui.models.registry import ModelNotFound

    req = small_request(model="tiny-sdxl-gone")
    snap = Snapshot(ray_ctx)
    try:
        ray_ctx.jobs.run(req, "frank")
    except ModelNotFound as exc:
        assert "tiny-sdxl-gone" in str(exc)
    else:
        raise AssertionError("a job on a missing checkpoint ran")
    snap.assert_nothing_written()


def test_worker_killed_mid_job_fails_over_or_fails_cleanly(ray_ctx):
    snap = Snapshot(ray_ctx)
    backend = ray_ctx.jobs.backend
    progress = JobProgress()
    done = {}

    def job():
        try:
            done["out"] = ray_ctx.jobs.run(small_request(steps=40, width=128, height=128,
                                                         seed=99), "dave", progress)
        except Exception as exc:  # noqa: BLE001 - judged below
            done["error"] = exc

    t = threading.Thread(target=job)
    t.start()
    wait_until(lambda: progress.done_steps >= 2, 300, "the job's first steps")
    running = ray.get(backend.board.running.remote())
    assert len(running) == 1
    victim = next(iter(running.values()))
    os.kill(victim["pid"], signal.SIGKILL)
    t.join(240)
    assert not t.is_alive(), "the job hung after its worker was killed"
    print("worker killed:", "job finished on another worker" if "out" in done
          else f"job failed: {done['error']}")
    if "out" in done:  # it ran again on the other worker, to its end: one whole record
        assert backend.failovers == 1
        assert len(done["out"].saved) == 1 and not done["out"].result.interrupted
        assert ray_ctx.store.count() == snap.count + 1
    else:  # or it failed with a message saying so, and nothing of it was written
        assert isinstance(done["error"], WorkerLost), done["error"]
        assert "nothing was saved" in str(done["error"])
        snap.assert_nothing_written()
    # the app keeps serving
    out = ray_ctx.jobs.run(small_request(seed=5), "erin")
    assert len(out.saved) == 1 and out.saved[0].path.is_file()
