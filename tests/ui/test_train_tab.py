"""The Train tab served for real on loopback, driven through its Gradio endpoints: images
dropped and picked from the Gallery, a job queued and followed to its LoRA, Stop and Resume,
and bad input answered with a plain message and nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.helpers import free_port, small_request
from tests.training.helpers import models_copy, pattern
from webui.server.uvicorn_server import serve
from webui.training.records import TrainingRecords


@pytest.fixture
def settings(tiny_models_dir, tmp_path):
    from webui.config import Settings

    models = models_copy(tiny_models_dir, tmp_path / "models")
    return Settings(models_dir=models, outputs_dir=tmp_path / "outputs",
                    data_dir=tmp_path / "data", device="cpu")


@pytest.fixture
def served(ctx):
    demo = serve(ctx, block=False, port=free_port())
    try:
        yield ctx, Client(demo.local_url, verbose=False)
    finally:
        demo.close()


@pytest.fixture
def image_files(tmp_path):
    paths = []
    for i in range(2):
        path = tmp_path / f"train-{i}.png"
        pattern(i).save(path)
        paths.append(path)
    (tmp_path / "notes.png").write_text("not a picture")
    return paths, tmp_path / "notes.png"


def args(files, picks=(), **kw) -> dict:
    out = dict(paths=[handle_file(str(p)) for p in files], picks=list(picks),
               caption_text="", lora_name="tab-subject", trig="ohwx", cls="product",
               base_name="tiny-sdxl-a", steps_v=4, rank_v=4, alpha_v=0, lr_v=0.01, res_v=64,
               batch_v=1, accum_v=1, opt_v="AdamW", gamma_v=5, seed_v=1, te_v=False,
               prior_v=False, every_v=2)
    out.update(kw)
    return out


def wait_state(client, job, states=("done", "failed", "stopped"), timeout=300) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = client.predict(run_id=job, api_name="/train_lora_status")[0]
        if any(f"**{s}**" in text for s in states):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.2)


def test_train_from_dropped_and_gallery_images(served, image_files):
    ctx, client = served
    files, _ = image_files
    # one more training image from the Gallery (an image this app made)
    ctx.jobs.run(small_request(prompt="gallery pick", steps=1))
    (row,) = ctx.store.recent()
    out = client.predict(**args(files, picks=[str(row.id)],
                                caption_text="ohwx product on a table\n\nohwx product, close"),
                         api_name="/train_lora")
    job = out[0]
    assert job >= 1
    text = wait_state(client, job)
    assert "**done**" in text and "<lora:tab-subject:1>" in text
    status, plot, samples, table = client.predict(run_id=job, api_name="/train_lora_status")
    assert len(samples) == 2  # every 2 steps of 4
    assert [r[1:4] for r in table["data"]] == [["tab-subject", "done", 4]]
    record = TrainingRecords(ctx.store.engine).get(job)
    # the loss curve: one point a step, the recorded losses
    assert plot["data"] == [[i + 1, pytest.approx(v)] for i, v in enumerate(record.losses)]
    assert len(record.losses) == 4
    assert [im["caption"] for im in record.images] == [
        "ohwx product on a table", "a photo of ohwx product", "ohwx product, close"]
    assert (Path(ctx.settings.models_dir) / "Lora" / "tab-subject.safetensors").is_file()


def test_stop_and_resume_from_the_tab(served, image_files):
    ctx, client = served
    files, _ = image_files
    job = client.predict(**args(files + [files[0]], lora_name="tab-halted", steps_v=300,
                                every_v=0), api_name="/train_lora")[0]
    deadline = time.monotonic() + 120
    while ctx.training.status(job, _local()).step < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.predict(run_id=job, api_name="/train_lora_stop")
    assert "**stopped**" in wait_state(client, job)
    client.predict(run_id=job, api_name="/train_lora_resume")
    text = wait_state(client, job, states=("running", "done"))
    assert "tab-halted" in text
    client.predict(run_id=job, api_name="/train_lora_stop")
    wait_state(client, job)


def test_bad_input_is_a_plain_error_and_leaves_nothing(served, image_files):
    ctx, client = served
    files, notes = image_files
    cases = [
        (args(files[:1]), "3 to 50 images"),
        (args(files + [notes]), "training image 3"),
        (args(files + [files[0]], lora_name="../up"), "plain name"),
        (args(files + [files[0]], steps_v=0), "minimum value 1"),  # gradio's own bound
        (args(files + [files[0]], steps_v=10**6), "steps must be between 1 and 100000"),
        (args(files + [files[0]], picks=["999999"]), "Gallery image 999999"),
    ]
    for kw, words in cases:
        with pytest.raises(AppError, match=words):
            client.predict(**kw, api_name="/train_lora")
    assert TrainingRecords(ctx.store.engine).list(everyone=True) == []
    assert not any((Path(ctx.settings.models_dir) / "Lora").iterdir())


def _local():
    from webui.caller import LOCAL_USER

    return LOCAL_USER
