"""A person's path through the UI: type a prompt, Generate, see the image, find it in History."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp, set_number, wait_job_done


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("browser-app"))
    yield running
    running.stop()



def test_generate_then_find_in_history(app, pages):
    page = pages()
    page.goto(app.url)
    page.locator("#txt2img_prompt textarea").fill("a red house in the browser test")
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_generate").click()
    info = wait_job_done(page, "txt2img", "a red house in the browser test")
    assert "Size: 64x64" in info
    assert page.locator("#txt2img_gallery img").count() >= 1
    saved = list(app.outputs.rglob("*.png"))
    assert len(saved) == 1

    page.get_by_role("tab", name="Gallery").click()
    history_image = page.locator("#history_gallery img").first
    history_image.wait_for(timeout=30_000)
    assert page.locator("#history_gallery img").count() >= 1
