"""The output panel's helpers without a browser: size preset labels, LoRA trigger words,
the progress text, and the infotext of a clicked Output image."""

from __future__ import annotations

from webui.engine.progress import JobProgress
from webui.models.lora import lora_names
from webui.ui.widgets import (CUSTOM, PRESET_CHOICES, image_infotext, preset_for,
                              progress_text, trigger_words_text)


def test_preset_for_names_presets_and_custom():
    assert preset_for(1024, 1024) == "1024x1024 (1:1)" == PRESET_CHOICES[0]
    assert preset_for(896, 1152) == "896x1152 (7:9)"
    assert preset_for(1152, 1152) == CUSTOM
    assert preset_for(None, 64) == CUSTOM


def test_lora_names_in_a_prompt_each_once():
    assert lora_names("a <lora:a:0.5> b <lora:b> <lora:a:1> <lora:unfinished") == ["a", "b"]
    assert lora_names(None) == []


def test_trigger_words_follow_the_tags(ctx):
    manager = ctx.manager
    assert trigger_words_text(manager, "a cat") == ""
    assert trigger_words_text(manager, "a cat <lora:tiny-lora-a:1>") == \
        "Trigger words: tinystyle, red hat"
    assert trigger_words_text(manager, "a cat <lora:tiny-lora-b:1>") == ""  # has none
    assert trigger_words_text(manager, "<lora:not-installed:1>") == ""


def test_progress_text_counts_time_through_every_state():
    job = JobProgress()
    assert progress_text(job, 1.25) == "Starting (model, prompt) · 1.2s elapsed"
    job.queued(2, 10.0)
    assert progress_text(job, 3.0).startswith("Queued: position 2")
    job.start(20)
    job.step()
    text = progress_text(job, 7.0)
    assert text.startswith("Step 1/20") and text.endswith("7.0s elapsed"), text


def test_image_infotext_reads_png_and_jpeg_parameters(tmp_path):
    from PIL import Image, PngImagePlugin

    from webui.imageio import save_with_parameters

    png = tmp_path / "a.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 2, Seed: 778, Size: 64x64")
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    assert "Seed: 778" in image_infotext(png)
    plain = tmp_path / "preview.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert image_infotext(plain) == ""
    assert image_infotext(tmp_path / "missing.png") == ""
    jpeg = tmp_path / "a.jpg"
    save_with_parameters(Image.new("RGB", (8, 8)), jpeg, "a dog\nSteps: 2, Seed: 9", "jpeg")
    assert "Seed: 9" in image_infotext(jpeg)
