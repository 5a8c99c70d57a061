"""Dropping an image onto a prompt box reads its parameters into the tab (A1111's drop)."""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from tests.browser.conftest import RunningApp
from webui.imageio import save_with_parameters

INFOTEXT = ("a lighthouse at dusk\nNegative prompt: fog\nSteps: 7, Sampler: Euler, "
            "CFG scale: 5.5, Seed: 4242, Size: 64x128, Model: tiny-sdxl-a")


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("browser-app"))
    yield running
    running.stop()


def drop_file(page, selector: str, data: bytes, name: str, mime: str) -> None:
    """Drop a file onto ``selector`` as a person dragging it from their desktop would."""
    transfer = page.evaluate_handle(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            return dt;
        }""", [base64.b64encode(data).decode(), name, mime])
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _value(page, elem_id: str, kind: str = "input[type=number]") -> str:
    return page.locator(f"#{elem_id} {kind}").input_value()


@pytest.mark.parametrize("tab", ["txt2img", "img2img"])
def test_an_image_dropped_on_the_prompt_fills_the_tabs_parameters(app, pages, tmp_path, tab):
    png = tmp_path / "lighthouse.png"
    save_with_parameters(Image.new("RGB", (64, 128), "navy"), png, INFOTEXT, "png")
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name=tab, exact=True).click()
    prompt = f"#{tab}_prompt textarea"
    page.locator(prompt).fill("my own words")
    drop_file(page, prompt, png.read_bytes(), "lighthouse.png", "image/png")
    page.wait_for_function("([sel]) => document.querySelector(sel)?.value === "
                           "'a lighthouse at dusk'", arg=[prompt], timeout=60_000)
    assert page.locator(f"#{tab}_negative_prompt textarea").input_value() == "fog"
    page.wait_for_function("([sel]) => document.querySelector(sel)?.value === '4242'",
                           arg=[f"#{tab}_seed input"], timeout=30_000)
    assert (_value(page, f"{tab}_steps"), _value(page, f"{tab}_width"),
            _value(page, f"{tab}_height"), _value(page, f"{tab}_cfg_scale")) == \
        ("7", "64", "128", "5.5")


def test_a_dropped_file_without_parameters_leaves_the_prompt_and_says_so(app, pages,
                                                                       tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (64, 64), "red").save(plain)
    page = pages()
    page.goto(app.url)
    prompt = "#txt2img_prompt textarea"
    page.locator(prompt).fill("my own words")
    drop_file(page, prompt, plain.read_bytes(), "plain.png", "image/png")
    page.get_by_text("plain.png holds no generation parameters").wait_for(timeout=60_000)
    assert page.locator(prompt).input_value() == "my own words"
