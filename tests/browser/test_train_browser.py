"""The Train tab in a real browser: drop three pictures, name the LoRA, Train, and watch the
job run to its LoRA file with a loss curve and sample images."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp, set_number
from tests.training.helpers import models_copy, pattern


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    # a models folder of its own: the trained LoRA must not reach other tests' Lora folder
    models = models_copy(tiny_models_dir, tmp_path_factory.mktemp("train-models"))
    running = RunningApp(models, tmp_path_factory.mktemp("train-app"))
    running.models = models
    yield running
    running.stop()


def test_drop_images_and_train_a_lora(app, pages, tmp_path):
    files = []
    for i in range(3):
        path = tmp_path / f"subject-{i}.png"
        pattern(i).save(path)
        files.append(str(path))
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train_images input[type=file]").set_input_files(files)
    # the captions fill in, one line per image, with the trigger and class words
    page.wait_for_function(
        "() => (document.querySelector('#train_captions textarea')?.value || '')"
        ".split('\\n').length === 3", timeout=60_000)
    assert "ohwx person" in page.locator("#train_captions textarea").input_value()
    page.locator("#train_name textarea, #train_name input").first.fill("browser-subject")
    page.get_by_text("Advanced", exact=True).click()
    set_number(page, "train_steps", 4)
    set_number(page, "train_resolution", 64)
    set_number(page, "train_sample_every", 2)
    page.locator("#train_start").click()
    page.wait_for_function(
        "() => (document.querySelector('#train_status')?.innerText || '').includes('done')",
        timeout=180_000)
    status = page.locator("#train_status").inner_text()
    assert "browser-subject" in status and "step 4/4" in status
    assert "<lora:browser-subject:1>" in status
    page.locator("#train_samples img").first.wait_for(timeout=30_000)
    assert page.locator("#train_samples img").count() >= 2
    assert (app.models / "Lora" / "browser-subject.safetensors").is_file()
    # the records table lists it
    assert "browser-subject" in page.locator("#train_jobs").inner_text()
    # every LoRA picker lists it at once: txt2img's "Add LoRA" adds its tag
    page.get_by_role("tab", name="txt2img").click()
    page.locator("#txt2img_lora_picker input").click()
    page.get_by_role("option", name="browser-subject", exact=True).first.click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value"
        ".includes('<lora:browser-subject:1>')", timeout=30_000)
