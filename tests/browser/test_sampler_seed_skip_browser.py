"""Schedule type beside the sampler, Clip skip, the 🎲/♻️ seed buttons and Skip, in a real
browser (issue 12 item 9)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import RunningApp, pick, set_number, wait_job_done
from tests.helpers import small_request


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("browser-app"))
    yield running
    running.stop()


def small_job(page, prompt: str, steps: int = 2) -> None:
    page.locator("#txt2img_prompt textarea").fill(prompt)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", steps)


def test_schedule_type_clip_skip_and_seed_buttons(app, pages):
    page = pages()
    page.goto(app.url)
    seed = page.locator("#txt2img_seed input[type=number]")
    # ♻️ before any job leaves the box as it is
    page.locator("#txt2img_reuse_seed").click()
    page.wait_for_timeout(300)
    assert seed.input_value() == "-1"
    assert page.locator("#txt2img_scheduler input").input_value() == "Automatic"
    pick(page, "txt2img_sampler", "DPM++ 2M")
    pick(page, "txt2img_scheduler", "Karras")
    set_number(page, "txt2img_clip_skip", 2)
    small_job(page, "two dropdowns in the browser")
    page.locator("#txt2img_generate").click()
    info = wait_job_done(page, "txt2img", "two dropdowns in the browser")
    assert "Sampler: DPM++ 2M, Schedule type: Karras," in info and "Clip skip: 2" in info
    used = info.split("Seed: ")[1].split(",")[0]
    # ♻️: the seed the job used (it was random); 🎲: back to -1
    page.locator("#txt2img_reuse_seed").click()
    page.wait_for_function("([sel, v]) => document.querySelector(sel)?.value === v",
                           arg=["#txt2img_seed input[type=number]", used])
    page.locator("#txt2img_random_seed").click()
    page.wait_for_function("sel => document.querySelector(sel)?.value === '-1'",
                           arg="#txt2img_seed input[type=number]")
    # the result's parameters sent back fill both dropdowns and Clip skip
    pick(page, "txt2img_sampler", "Euler")
    pick(page, "txt2img_scheduler", "Automatic")
    set_number(page, "txt2img_clip_skip", 1)
    page.locator("#txt2img_send_to_txt2img").click()
    page.wait_for_function("sel => document.querySelector(sel)?.value === 'Karras'",
                           arg="#txt2img_scheduler input")
    assert page.locator("#txt2img_sampler input").input_value() == "DPM++ 2M"
    assert page.locator("#txt2img_clip_skip input[type=number]").input_value() == "2"


def test_skip_keeps_the_current_image_and_makes_the_next(app, pages, ctx):
    page = pages()
    page.goto(app.url)
    pick(page, "txt2img_sampler", "Euler")
    small_job(page, "skip in the browser", steps=100)
    set_number(page, "txt2img_seed", 900)
    set_number(page, "txt2img_batch_count", 2)
    before = set(app.outputs.rglob("*.png"))
    page.locator("#txt2img_generate").click()
    # a live preview of the first image: the job is making it
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.value || '').includes('Preview at step')",
        arg="#txt2img_info textarea", timeout=120_000)
    page.locator("#txt2img_skip").click()
    info = wait_job_done(page, "txt2img", "skip in the browser", timeout=300_000)
    assert "Stopped" not in info
    saved = sorted(set(app.outputs.rglob("*.png")) - before)
    assert len(saved) == 2  # the skipped image is kept, and the next one was made
    shown = {p.name.split("-", 1)[1]: np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)
             for p in saved}
    from webui.engine.txt2img import run_txt2img

    for seed, skipped in (("900.png", True), ("901.png", False)):
        full = run_txt2img(ctx.manager, small_request(
            prompt="skip in the browser", sampler="Euler", steps=100,
            seed=int(seed[:-4]))).images[0].image
        diff = np.abs(shown[seed] - np.asarray(full.convert("RGB"), dtype=np.int16))
        if skipped:
            assert diff.mean() > 2, "the first image ran all its steps"
        else:
            assert diff.max() <= 2, "the image after the skipped one was not made in full"
