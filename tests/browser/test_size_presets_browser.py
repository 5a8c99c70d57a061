"""The size presets follow the selected checkpoint's native size: picking a checkpoint of
another size (or Refresh changing it) changes the preset choices, and a size that is none of
them moves to the new model's native square; the page's slider -> preset lookup follows."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.browser.conftest import RunningApp, pick, set_number
from webui.ui.widgets import PRESET_CHOICES


@pytest.fixture(scope="module")
def models(tiny_models_dir, tmp_path_factory):
    """tiny-sdxl-a (UNet sample_size 16: 128 px) and two copies whose UNet config says
    another size (the UNet is fully convolutional, so the weights still run): sample_size 8
    (64 px) and 128 (1024 px, as SDXL)."""
    root = tmp_path_factory.mktemp("preset-models")
    ckpts = root / "Stable-diffusion"
    ckpts.mkdir()
    src = tiny_models_dir / "Stable-diffusion" / "tiny-sdxl-a"
    shutil.copytree(src, ckpts / "tiny-sdxl-a")
    for name, sample_size in (("tiny-sdxl-small", 8), ("tiny-sdxl-xl", 128)):
        shutil.copytree(src, ckpts / name)
        config = ckpts / name / "unet" / "config.json"
        config.write_text(json.dumps(dict(json.loads(config.read_text()),
                                          sample_size=sample_size)))
    for sub in ("Lora", "VAE"):
        (root / sub).mkdir()
    return root


@pytest.fixture(scope="module")
def app(models, tmp_path_factory):
    running = RunningApp(models, tmp_path_factory.mktemp("presets-app"))
    yield running
    running.stop()


def shows(page, tab: str, preset: str, width: int, height: int) -> None:
    """Wait until ``tab`` shows that preset and size."""
    page.wait_for_function(
        """([tab, preset, w, h]) => {
            const v = (sel) => document.querySelector(sel)?.value;
            return v(`#${tab}_preset input`) === preset
                && v(`#${tab}_width input[type=number]`) === w
                && v(`#${tab}_height input[type=number]`) === h;
        }""", arg=[tab, preset, str(width), str(height)])


def preset_options(page, tab: str) -> list[str]:
    """The preset dropdown's choices, as its list shows them."""
    # (after a pick the checkpoint's list may still be closing)
    page.wait_for_function("() => !document.querySelector('[role=option]')")
    page.locator(f"#{tab}_preset input").click()
    page.get_by_role("option").first.wait_for()
    # (the selected one carries a check mark on a line of its own)
    options = [t.replace("✓", "").strip() for t in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    page.locator(f"#{tab}_prompt textarea").click()  # away from the list
    page.wait_for_function("() => !document.querySelector('[role=option]')")
    return options


def test_presets_follow_the_checkpoint(app, pages):
    page = pages()
    page.goto(app.url)
    # at load: tiny-sdxl-a's presets, and (no size saved in Settings) its native size
    shows(page, "txt2img", "128x128 (1:1)", 128, 128)
    assert "native size: 128x128" in page.locator("#txt2img_preset").inner_text()
    tiny = preset_options(page, "txt2img")
    assert tiny[:3] == ["128x128 (1:1)", "144x112 (9:7)", "112x144 (7:9)"]
    assert tiny[-1] == "Custom" and "1024x1024 (1:1)" not in tiny
    shows(page, "txt2img", "128x128 (1:1)", 128, 128)

    # a 1024 px model: SDXL's presets; 128x128 is none of them -> its native square
    pick(page, "txt2img_checkpoint", "tiny-sdxl-xl")
    shows(page, "txt2img", "1024x1024 (1:1)", 1024, 1024)
    assert preset_options(page, "txt2img") == PRESET_CHOICES
    pick(page, "txt2img_preset", "1152x896 (9:7)")
    shows(page, "txt2img", "1152x896 (9:7)", 1152, 896)
    assert "native size: 1024x1024" in page.locator("#txt2img_preset").inner_text()

    # back to the 128 px model: 1152x896 is none of its presets -> its native square
    pick(page, "txt2img_checkpoint", "tiny-sdxl-a")
    shows(page, "txt2img", "128x128 (1:1)", 128, 128)
    assert preset_options(page, "txt2img") == tiny
    # typed sizes find the new model's presets in the page
    set_number(page, "txt2img_width", 144)
    set_number(page, "txt2img_height", 112)
    shows(page, "txt2img", "144x112 (9:7)", 144, 112)
    pick(page, "txt2img_preset", "112x144 (7:9)")
    shows(page, "txt2img", "112x144 (7:9)", 112, 144)

    # a 64 px model: only 64x64 fits the sliders (64-2048)
    pick(page, "txt2img_checkpoint", "tiny-sdxl-small")
    shows(page, "txt2img", "64x64 (1:1)", 64, 64)
    assert preset_options(page, "txt2img") == ["64x64 (1:1)", "Custom"]

    # Refresh puts the app's checkpoint (tiny-sdxl-a) back: its presets and native size
    page.locator("#txt2img_refresh").click()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_checkpoint input')?.value === 'tiny-sdxl-a'")
    shows(page, "txt2img", "128x128 (1:1)", 128, 128)

    # every generation tab follows its own checkpoint
    page.get_by_role("tab", name="img2img", exact=True).click()
    shows(page, "img2img", "128x128 (1:1)", 128, 128)
    pick(page, "img2img_checkpoint", "tiny-sdxl-small")
    shows(page, "img2img", "64x64 (1:1)", 64, 64)
    page.get_by_role("tab", name="txt2img", exact=True).click()
    shows(page, "txt2img", "128x128 (1:1)", 128, 128)


def saved_settings(app) -> dict:
    path = app.outputs.parent / "data" / "settings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_settings(page, app, **want) -> dict:
    """Press Save and wait until settings.json holds ``want``; returns what it holds."""
    import time

    page.locator("#settings_save").click()
    deadline = time.monotonic() + 60
    while True:
        saved = saved_settings(app)
        if saved and all(saved.get(k) == v for k, v in want.items()):
            return saved
        assert time.monotonic() < deadline, (want, saved)
        time.sleep(0.2)


def test_an_unsaved_size_follows_the_default_checkpoint(app, pages):
    """Settings shows the default checkpoint's native size while no size is saved; saving
    other settings leaves it unsaved, so a new default checkpoint brings its own size."""
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="Settings").click()
    width = page.locator("#settings_width input[type=number]")
    page.wait_for_function(
        "() => document.querySelector('#settings_width input[type=number]')?.value === '128'")
    saved = save_settings(page, app, steps=20)
    assert (saved["width"], saved["height"]) == (None, None)

    pick(page, "settings_default_model", "tiny-sdxl-xl")
    page.wait_for_function(
        "() => document.querySelector('#settings_width input[type=number]')?.value === '1024'")
    saved = save_settings(page, app, default_model="tiny-sdxl-xl")
    assert (saved["width"], saved["height"]) == (None, None)
    fresh = pages()
    fresh.goto(app.url)
    shows(fresh, "txt2img", "1024x1024 (1:1)", 1024, 1024)

    # a size chosen in Settings is saved and kept, whatever the checkpoint
    width.fill("896")
    width.press("Enter")
    saved = save_settings(page, app, width=896)
    assert saved["height"] is None
