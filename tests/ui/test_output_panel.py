"""The output panel's helpers without a browser: size preset labels, LoRA trigger words,
the progress text, and the infotext of a clicked Output image."""

from __future__ import annotations

from webui.engine.progress import JobProgress
from webui.models.lora import lora_names
from webui.config import Limits
from webui.request import SIZE_PRESETS
from webui.ui.widgets import (CUSTOM, PRESET_CHOICES, image_infotext, model_presets,
                              preset_choices, preset_for, preset_lookup, progress_text,
                              size_presets, trigger_words_text)


def test_preset_for_names_presets_and_custom():
    assert preset_for(1024, 1024) == "1024x1024 (1:1)" == PRESET_CHOICES[0]
    assert preset_for(896, 1152) == "896x1152 (7:9)"
    assert preset_for(1152, 1152) == CUSTOM
    assert preset_for(None, 64) == CUSTOM


def test_size_presets_follow_the_native_size():
    # SDXL (1024): exactly its 1-megapixel presets, labelled as before
    sdxl = size_presets(1024)
    assert [(w, h) for w, h, _ in sdxl] == SIZE_PRESETS
    assert [label for _, _, label in sdxl] == PRESET_CHOICES[:-1]
    assert preset_choices(1024, Limits()) == PRESET_CHOICES
    # a 64 px model: the same ratios scaled by 64/1024, multiples of 8, each size once,
    # labelled with the SDXL preset's ratio
    small = size_presets(64)
    sizes = [(w, h) for w, h, _ in small]
    assert sizes[0] == (64, 64) and small[0][2] == "64x64 (1:1)"
    assert all(w % 8 == 0 and h % 8 == 0 for w, h in sizes)
    assert len(set(sizes)) == len(sizes)
    assert "72x56 (9:7)" in [label for _, _, label in small]
    # 128 px (the tiny test models)
    tiny = [label for _, _, label in size_presets(128)]
    assert tiny[:3] == ["128x128 (1:1)", "144x112 (9:7)", "112x144 (7:9)"]
    assert "192x80 (12:5)" in tiny
    # sizes the sliders cannot hold (below 64 px by default) are not offered
    assert [(w, h) for w, h, _ in model_presets(64, Limits())] == [(64, 64)]
    assert preset_choices(128, Limits()) == tiny + [CUSTOM]
    # and none above the limit (a hosted demo's 1024)
    assert preset_choices(1024, Limits(max_size=1024)) == ["1024x1024 (1:1)", CUSTOM]


def test_preset_for_and_lookup_of_a_native_size():
    assert preset_for(144, 112, 128) == "144x112 (9:7)"
    assert preset_for(1152, 896, 128) == CUSTOM
    assert preset_for(1024, 1024, 128) == CUSTOM
    lookup = preset_lookup("tiny", 128, Limits())
    assert lookup["model"] == "tiny" and lookup["native"] == 128
    assert lookup["sizes"]["144x112"] == "144x112 (9:7)"
    assert "1024x1024" not in lookup["sizes"]


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
