"""The PNG Info tab's "Check image" panel in the browser (issue 15 items 4-5): a picture the
app made at 256 px reads back "SDXL watermark: 48/48 bits (found)" with its XMP label; a
64 px one is shown unmarked, as its caption said."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp, set_number, wait_job_done


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("check-image-app"))
    yield running
    running.stop()


def test_generate_then_check_the_file_in_png_info(app, pages, tmp_path_factory):
    page = pages()
    page.goto(app.url)
    page.locator("#txt2img_prompt textarea").fill("a picture to check")
    set_number(page, "txt2img_width", 256)
    set_number(page, "txt2img_height", 256)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_generate").click()
    info = wait_job_done(page, "txt2img", "Seed:")
    assert info.startswith("a picture to check")  # the parameters box: the infotext alone
    (saved,) = list(app.outputs.rglob("txt2img-images/*/*.png"))
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_file input[type=file]").set_input_files(str(saved))
    report = page.locator("#pnginfo_check_report")
    report.get_by_text("SDXL watermark: 48/48 bits (found)").wait_for(timeout=60_000)
    text = report.inner_text()
    assert "trainedAlgorithmicMedia — made with AI" in text
    assert "Software: sdxl-webui" in text and "C2PA: no manifest" in text
    page.locator("#pnginfo_message").get_by_text("written by").wait_for()  # parameters too
    shots = tmp_path_factory.mktemp("check-image-shots")
    page.screenshot(path=str(shots / "pnginfo-check.png"), full_page=True)
    print(f"screenshot: {shots / 'pnginfo-check.png'}")
