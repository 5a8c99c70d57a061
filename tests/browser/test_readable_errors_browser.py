"""Errors a person can read: a file that is no picture, a number typed out of range."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("browser-app"))
    yield running
    running.stop()


def _number(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input[type=number]").input_value()


@pytest.mark.parametrize("tab, upload", [("img2img", "img2img_image"),
                                         ("outpaint", "outpaint_image"),
                                         ("inpaint", "inpaint_mask_upload")])
def test_a_text_file_named_png_is_refused_plainly_and_the_size_stays(app, pages, tmp_path,
                                                                    tab, upload):
    fake = tmp_path / "fake.png"
    fake.write_text("this is a text file, not a picture")
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name=tab, exact=True).click()
    size_ids = [f"{tab}_width", f"{tab}_height"] if tab != "outpaint" else []
    before = [_number(page, i) for i in size_ids]
    page.locator(f"#{upload} input[type=file]").set_input_files(str(fake))
    warning = page.get_by_text("fake.png is not an image this app can read")
    warning.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    for raw in ("index", "/tmp/gradio", "ImageData", "Could not preprocess"):
        assert raw not in body, raw
    # the other fields are left alone (no "Error" badges, same values)
    assert [_number(page, i) for i in size_ids] == before
    for i in size_ids:
        assert "Error" not in page.locator(f"#{i}").inner_text()
    # and Generate then says what is missing, in plain words
    page.locator(f"#{tab}_prompt textarea").fill("a cat")
    page.locator(f"#{tab}_generate").click()
    page.get_by_text(f"{tab} needs an image").first.wait_for(timeout=60_000)


@pytest.mark.parametrize("typed, kept", [("500", "150"), ("0", "1")])
def test_steps_typed_out_of_range_are_not_changed_silently(app, pages, typed, kept):
    """The API refuses 500 steps with "steps must be between 1 and 150, got 500"; the
    slider cannot send 500, so the tab says the same words the moment it keeps 150."""
    page = pages()
    page.goto(app.url)
    box = page.locator("#txt2img_steps input[type=number]")
    box.fill(typed)
    box.press("Tab")  # leaving the box is when the slider keeps its nearest value
    page.get_by_text(f"steps must be between 1 and 150, got {typed}; set to {kept}").wait_for(
        timeout=60_000)
    page.wait_for_function("([sel, want]) => document.querySelector(sel)?.value === want",
                           arg=["#txt2img_steps input[type=number]", kept], timeout=30_000)
