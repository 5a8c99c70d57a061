"""LoRA training as a job of the app (``ctx.training``): it waits in the device queue with the
generation jobs, keeps its images and a database record, writes a LoRA every picker sees, and
stops / resumes; bad input and callers who may not train are refused before anything is written.
Real app context, real SQLite file, tiny models."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.api.conftest import BlockingJob
from tests.helpers import small_request
from tests.training.helpers import models_copy, pattern
from webui.caller import LOCAL_USER, Caller
from webui.errors import RequestError
from webui.training.records import TrainingRecords
from webui.training.service import TrainingRefused, TrainingService
from webui.training.spec import TrainingSpec

STEPS = 6


@pytest.fixture
def settings(tiny_models_dir, tmp_path):
    """The app's settings on a models folder of its own (trained LoRAs land in it)."""
    from webui.config import Settings

    models = models_copy(tiny_models_dir, tmp_path / "models",
                         names=("tiny-sdxl-a", "tiny-sdxl-refiner"))
    return Settings(models_dir=models, outputs_dir=tmp_path / "outputs",
                    data_dir=tmp_path / "data", device="cpu")


def spec(name="subject", **kw) -> TrainingSpec:
    base = dict(name=name, images=(pattern(0), pattern(1, 96, 64), pattern(2)), steps=STEPS,
                rank=4, conv_rank=2, resolution=64, learning_rate=1e-2, seed=3,
                base_model="tiny-sdxl-a")
    base.update(kw)
    return TrainingSpec(**base)


def wait_done(ctx, run_id, timeout=300):
    ctx.training.wait(run_id, timeout)
    status = ctx.training.status(run_id, LOCAL_USER)
    assert status.state not in ("queued", "running"), "training did not end in time"
    return status


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_files(ctx) -> set[Path]:
    root = Path(ctx.settings.data_dir) / "training"
    return {p for p in root.rglob("*")} if root.exists() else set()


def test_a_training_job_writes_its_lora_record_images_and_samples(ctx):
    run_id, warnings = ctx.training.submit(spec(), LOCAL_USER, sample_every=3)
    assert warnings == []
    status = wait_done(ctx, run_id)
    assert status.state == "done", status.error
    assert status.lora == "subject" and status.step == STEPS == status.total_steps
    lora = Path(ctx.settings.models_dir) / "Lora" / "subject.safetensors"
    assert lora.is_file()
    # every LoRA picker lists what the registry finds: it is there at once
    assert "subject" in ctx.manager.lora_names()

    row = TrainingRecords(ctx.store.engine).get(run_id)
    folder = Path(ctx.settings.data_dir) / "training" / str(run_id)
    assert row.state == "done" and row.finished_at is not None and row.duration > 0
    assert row.base_model == "tiny-sdxl-a"
    assert row.base_hash == ctx.manager.registry.sha256(ctx.manager.registry.get("tiny-sdxl-a"))
    assert row.lora_file == "subject.safetensors" and row.lora_sha256 == sha256(lora)
    assert len(row.losses) == STEPS and all(loss > 0 for loss in row.losses)
    assert row.params["rank"] == 4 and row.params["steps"] == STEPS
    assert row.params["learning_rate"] == pytest.approx(1e-2)
    # the training images are kept (as trained on) and their hashes recorded
    assert [im["caption"] for im in row.images] == ["a photo of ohwx person"] * 3
    for im in row.images:
        assert sha256(folder / im["file"]) == im["sha256"]
    # a sample image every 3 steps, made with the trigger prompt while it trained
    assert [s["step"] for s in row.samples] == [3, 6]
    for s in row.samples:
        assert (folder / s["file"]).is_file()
    # the job is listed (newest first), with its loss curve
    listed = ctx.training.list(LOCAL_USER)
    assert [s.id for s in listed][:1] == [run_id] and listed[0].losses == row.losses

    # the LoRA works in a generation job: a different picture than without it
    plain = ctx.jobs.run(small_request(prompt="a photo of ohwx person", steps=2, seed=5))
    with_lora = ctx.jobs.run(small_request(prompt="a photo of ohwx person <lora:subject:1>",
                                           steps=2, seed=5))
    a = plain.result.images[0].image.tobytes()
    b = with_lora.result.images[0].image.tobytes()
    assert a != b
    assert "Lora hashes" in with_lora.result.images[0].infotext


def test_training_waits_in_the_same_line_as_generation(ctx):
    done_at: dict[str, float] = {}
    with BlockingJob(ctx) as blocker:
        run_id, _ = ctx.training.submit(spec(), LOCAL_USER)
        deadline = time.monotonic() + 30
        while ctx.training.status(run_id, LOCAL_USER).position != 1:
            assert time.monotonic() < deadline, "the training never queued behind the job"
            time.sleep(0.05)
        assert ctx.training.status(run_id, LOCAL_USER).state == "queued"

        def generate():
            ctx.jobs.run(small_request(steps=2), owner="someone")
            done_at["image"] = time.monotonic()

        later = threading.Thread(target=generate, daemon=True)
        later.start()
        deadline = time.monotonic() + 30
        while ctx.jobs.position_of("someone") != 2:
            assert time.monotonic() < deadline, "the image job never queued behind training"
            time.sleep(0.05)
        blocker.release.set()
    status = wait_done(ctx, run_id)
    done_at["training"] = time.monotonic()
    later.join(120)
    assert status.state == "done"
    # first come, first served: the image waited for the whole training
    row = TrainingRecords(ctx.store.engine).get(run_id)
    assert "image" in done_at
    assert row.finished_at is not None
    assert done_at["image"] >= done_at["training"] - 1.0


def test_stop_keeps_the_state_and_resume_ends_with_an_uninterrupted_runs_weights(ctx):
    run_id, _ = ctx.training.submit(spec("halted", steps=10), LOCAL_USER)
    deadline = time.monotonic() + 120
    while ctx.training.status(run_id, LOCAL_USER).step < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ctx.training.stop(run_id, LOCAL_USER)
    status = wait_done(ctx, run_id)
    assert status.state == "stopped" and 2 <= status.step < 10
    lora_dir = Path(ctx.settings.models_dir) / "Lora"
    assert not (lora_dir / "halted.safetensors").exists()  # a stopped run writes no LoRA
    assert "halted" not in ctx.manager.lora_names()

    ctx.training.resume(run_id, LOCAL_USER)
    status = wait_done(ctx, run_id)
    assert status.state == "done" and status.step == 10, status.error
    resumed = load_file(lora_dir / "halted.safetensors")

    whole_id, _ = ctx.training.submit(spec("whole", steps=10), LOCAL_USER)
    assert wait_done(ctx, whole_id).state == "done"
    whole = load_file(lora_dir / "whole.safetensors")
    assert resumed.keys() == whole.keys()
    assert all((resumed[k] == whole[k]).all() for k in whole)
    rows = TrainingRecords(ctx.store.engine)
    assert rows.get(run_id).losses == pytest.approx(rows.get(whole_id).losses, abs=0)


def test_bad_input_is_refused_before_anything_is_written(ctx):
    lora_dir = Path(ctx.settings.models_dir) / "Lora"
    before = set(lora_dir.iterdir())
    rows = TrainingRecords(ctx.store.engine)
    cases = [
        (spec("../escape"), "plain name"),
        (spec(images=(pattern(0),)), "3 to 50 images"),
        (spec(images=(pattern(0), pattern(1), b"not a picture")), "training image 3"),
        (spec(steps=0), "steps must be between 1 and 100000"),
        (spec(steps=10**6), "steps must be between 1 and 100000"),
        (spec(base_model="tiny-sdxl-refiner"), "not an SDXL base"),
        (spec(base_model="no-such-model"), "no-such-model"),
        (spec("tiny-lora-x", captions=("a", "b")), "2 captions for 3 images"),
    ]
    for bad, words in cases:
        with pytest.raises(RequestError, match=words.replace("(", r"\(")):
            ctx.training.submit(bad, LOCAL_USER)
    (lora_dir / "taken.safetensors").write_bytes(b"x")
    with pytest.raises(RequestError, match="already exists"):
        ctx.training.submit(spec("taken"), LOCAL_USER)
    assert rows.list(everyone=True) == []
    assert data_files(ctx) == set()
    assert set(lora_dir.iterdir()) == before | {lora_dir / "taken.safetensors"}


def test_captions_and_trigger_go_through_the_prompt_policy(ctx):
    """The shipped policy blocks sexual content with minors and warns on violent words: a
    caption or trigger word is checked like a prompt."""
    from webui.policy import PromptBlocked

    blocked = [spec(captions=("a nude child", "", "")),
               spec(trigger="lolicon"),
               spec(class_word="naked teen")]
    for bad in blocked:
        with pytest.raises(PromptBlocked, match="involving minors is not allowed"):
            ctx.training.submit(bad, LOCAL_USER)
    assert TrainingRecords(ctx.store.engine).list(everyone=True) == []
    assert data_files(ctx) == set()
    with BlockingJob(ctx):
        run_id, warnings = ctx.training.submit(
            spec("grim", captions=("a gory scene with ohwx", "", "")), LOCAL_USER)
        assert len(warnings) == 1 and "Violent terms" in warnings[0] and "gory" in warnings[0]
        ctx.training.stop(run_id, LOCAL_USER)
    assert wait_done(ctx, run_id).state == "stopped"


def test_a_name_in_training_cannot_be_taken_twice(ctx):
    with BlockingJob(ctx):
        first, _ = ctx.training.submit(spec("twin"), LOCAL_USER)
        with pytest.raises(RequestError, match="being trained already"):
            ctx.training.submit(spec("Twin"), LOCAL_USER)
        assert ctx.training.stop(first, LOCAL_USER)
    assert wait_done(ctx, first).state == "stopped"


def test_only_admins_train_when_logins_are_on_and_a_demo_trains_only_when_allowed(
        ctx, settings):
    with pytest.raises(TrainingRefused, match="only an admin"):
        ctx.training.submit(spec(), Caller("bob"))
    assert TrainingRecords(ctx.store.engine).list(everyone=True) == []
    visitor = Caller("visitor-1", is_demo_visitor=True)
    off = TrainingService(ctx.manager, ctx.jobs.queue, TrainingRecords(ctx.store.engine),
                          settings.data_dir, settings.limits, ctx.checkpoint, enabled=False,
                          disabled_reason="LoRA training is off in this demo")
    with pytest.raises(TrainingRefused, match="off in this demo"):
        off.submit(spec(), visitor)
    # someone else's job is not theirs to see or stop
    with BlockingJob(ctx):
        run_id, _ = ctx.training.submit(spec("mine"), LOCAL_USER)
        with pytest.raises(RequestError, match=f"no training job {run_id}"):
            ctx.training.status(run_id, Caller("bob", is_admin=False))
        with pytest.raises(RequestError, match=f"no training job {run_id}"):
            ctx.training.stop(run_id, Caller("bob", is_admin=False))
        ctx.training.stop(run_id, LOCAL_USER)
    assert wait_done(ctx, run_id).state == "stopped"


def test_a_demo_context_has_training_off_unless_the_flag_is_given(settings):
    from webui.app import create_context

    settings.demo = True
    visitor = Caller("visitor-1", is_demo_visitor=True)
    with pytest.raises(TrainingRefused, match="--demo-training"):
        create_context(settings).training.check_allowed(visitor)
    settings.demo_training = True
    create_context(settings).training.check_allowed(visitor)


def test_jobs_a_stopped_server_left_behind_become_resumable(ctx, settings):
    records = TrainingRecords(ctx.store.engine)
    row = records.create(name="cut-off", owner=None, params={}, images=[], total_steps=5)
    records.update(row.id, state="running")
    TrainingService(ctx.manager, ctx.jobs.queue, records, settings.data_dir, settings.limits,
                    ctx.checkpoint)
    after = records.get(row.id)
    assert after.state == "stopped" and "Resume" in after.error


def test_prior_preservation_keeps_the_class_pictures_the_base_made(ctx):
    run_id, _ = ctx.training.submit(spec("with-prior", steps=2, prior_preservation=True,
                                         prior_images=2, class_word="product"), LOCAL_USER)
    status = wait_done(ctx, run_id)
    assert status.state == "done", status.error
    folder = Path(ctx.settings.data_dir) / "training" / str(run_id) / "class"
    kept = sorted(folder.glob("*.png"))
    assert len(kept) == 2
    row = TrainingRecords(ctx.store.engine).get(run_id)
    assert row.params["prior_preservation"] is True and row.params["prior_images"] == 2


def test_an_image_job_behind_a_training_hears_the_trainings_time_left(ctx):
    from webui.engine.progress import JobProgress

    run_id, _ = ctx.training.submit(spec("long", steps=2000), LOCAL_USER)
    deadline = time.monotonic() + 120
    while ctx.training.status(run_id, LOCAL_USER).step < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    heard = []
    job = JobProgress()
    job.listeners.append(lambda p: heard.append((p.queue_position, p.queue_eta)))
    waiting = threading.Thread(target=lambda: ctx.jobs.run(small_request(), owner="bob",
                                                           progress=job), daemon=True)
    waiting.start()
    deadline = time.monotonic() + 30
    while not heard:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    position, eta = heard[0]
    left = ctx.training.status(run_id, LOCAL_USER).eta
    assert position == 1
    # the training's own estimate (minutes of steps), not an image job's few seconds
    assert eta is not None and left is not None and eta > 0.5 * left
    ctx.training.stop(run_id, LOCAL_USER)
    waiting.join(120)
    assert wait_done(ctx, run_id).state == "stopped"
