"""Send-to in the browser: a txt2img result goes to img2img with its image and parameters; a
ComfyUI image goes from PNG Info to txt2img and generates; a styled result comes back unstyled."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ROOT, RunningApp, generate, set_number, wait_job_done


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("sendto-app"))
    yield running
    running.stop()



def test_send_txt2img_result_to_img2img_and_generate(app, pages):
    page = pages()
    page.goto(app.url)
    page.locator("#txt2img_prompt textarea").fill("a blue boat for send-to")
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_seed input").fill("4242")
    page.locator("#txt2img_generate").click()
    page.locator("#txt2img_gallery img").first.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_info textarea').value.includes('Seed: 4242')")

    page.locator("#txt2img_send_to_img2img").click()
    # the img2img tab opens with the image and the prompt filled in
    page.locator("#img2img_image img").first.wait_for(timeout=30_000)
    assert page.locator("#img2img_prompt textarea").input_value() == "a blue boat for send-to"
    # (the size is sent too, but Gradio sometimes leaves a hidden tab's slider box showing
    # its old number; set it explicitly so the job stays tiny)
    set_number(page, "img2img_width", 64)
    set_number(page, "img2img_height", 64)
    set_number(page, "img2img_steps", 4)
    page.locator("#img2img_generate").click()
    page.wait_for_function(
        "() => document.querySelector('#img2img_info textarea').value.includes('Denoising')",
        timeout=120_000)
    assert "a blue boat for send-to" in page.locator("#img2img_info textarea").input_value()
    assert len(list(app.outputs.rglob("img2img-images/*/*.png"))) == 1


SAMPLES = ROOT.parent / "shared" / "samples" / "metadata"
COMFY_SEED = 422847914351919  # comfyui_sdxl.png: euler_ancestral + karras, a 15-digit seed


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in a Gradio dropdown by typing it and taking the offered option."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).first.click()
    page.keyboard.press("Escape")
    page.locator(f"#{elem_id} .token", has_text=value).first.wait_for()


def test_comfyui_image_from_png_info_to_txt2img_generates(app, pages):
    sample = SAMPLES / "comfyui_sdxl.png"
    if not sample.exists():
        pytest.skip(f"metadata sample not found at {sample}")
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo_file input[type=file]").set_input_files(str(sample))
    message = page.locator("#pnginfo_message")
    message.get_by_text("written by").wait_for()
    # what Send-to leaves out is said before sending: no Euler a Karras, a foreign checkpoint
    assert "Karras" in message.inner_text() and "waiIllustriousSDXL" in message.inner_text()

    page.locator("#pnginfo_send_to_txt2img").click()
    page.locator(".toast-body", has_text="Karras").first.wait_for()
    assert page.locator("#txt2img_sampler input").input_value() == "Euler a"
    assert page.locator("#txt2img_seed input").input_value() == str(COMFY_SEED)
    set_number(page, "txt2img_width", 64)  # keep the job tiny
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_generate").click()
    info = wait_job_done(page, "txt2img", f"Seed: {COMFY_SEED}")
    assert "Sampler: Euler a" in info and info.startswith("general, masterpiece")
    assert "not in the list of choices" not in page.content()


def test_styled_result_sent_back_applies_the_style_once(app, pages):
    page = pages()
    page.goto(app.url)
    choose(page, "txt2img_styles", "cinematic")
    generate(page, "a lighthouse for styles")
    first = page.locator("#txt2img_info textarea").input_value()
    assert first.startswith("cinematic film still a lighthouse for styles")

    page.locator("#txt2img_send_to_txt2img").click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value"
        " === 'a lighthouse for styles'")
    assert page.locator("#txt2img_styles .token", has_text="cinematic").count() == 1
    page.locator("#txt2img_seed input").fill("77")
    page.locator("#txt2img_generate").click()
    again = wait_job_done(page, "txt2img", "Seed: 77")
    assert again.count("cinematic film still") == 1 and "Styles: cinematic" in again
