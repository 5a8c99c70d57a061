"""Settings persist across restarts; output formats keep their parameters."""

from __future__ import annotations

import pytest
from PIL import Image

from webui.user_settings import SettingsStore, format_filename  # noqa: I001 (first: see below)
from webui.metadata.pnginfo import read_generation_info
from webui.imageio import save_with_parameters
from webui.request import RequestError

INFOTEXT = ("a cat, best quality\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
            "CFG scale: 7, Seed: 42, Size: 64x64, Model hash: 0123456789, Model: tiny")


def test_settings_survive_restart_and_reject_bad_values(tmp_path):
    store = SettingsStore(tmp_path / "settings.json")
    assert store.current.sampler == "Euler a"
    store.save(sampler="DPM++ 2M Karras", steps=30, output_format="webp")
    again = SettingsStore(tmp_path / "settings.json")
    assert (again.current.sampler, again.current.steps, again.current.output_format) == (
        "DPM++ 2M Karras", 30, "webp")
    with pytest.raises(RequestError, match="output format must be one of png, jpeg, webp"):
        again.save(output_format="gif")
    with pytest.raises(RequestError, match=r"unknown file-name token\(s\) \[nope\]"):
        again.save(filename_pattern="[seed]-[nope]")
    with pytest.raises(RequestError, match="cannot contain"):
        again.save(filename_pattern="../[seed]")
    assert SettingsStore(tmp_path / "settings.json").current.output_format == "webp"


def test_size_is_unsaved_until_chosen(tmp_path):
    """No size saved means "the checkpoint's native size" (None); saving other settings keeps
    it so; a saved size is checked against the limits like a request's."""
    store = SettingsStore(tmp_path / "settings.json")
    assert (store.current.width, store.current.height) == (None, None)
    store.save(steps=25)
    assert SettingsStore(tmp_path / "settings.json").current.width is None
    store.save(width=512, height=768)
    assert (SettingsStore(tmp_path / "settings.json").current.height) == 768
    with pytest.raises(RequestError, match="width"):
        store.save(width=4)
    assert SettingsStore(tmp_path / "settings.json").current.width == 512


def test_broken_settings_file_falls_back_to_defaults(tmp_path):
    (tmp_path / "settings.json").write_text("{not json")
    assert SettingsStore(tmp_path / "settings.json").current.steps == 20


def test_filename_pattern():
    assert format_filename("[seed]-[sampler]", {"seed": 7, "sampler": "DPM++ 2M"}) == \
        "7-DPM++_2M"
    assert format_filename("[prompt_words]", {"prompt": "a (red:1.2) cat, <lora:x:1>"}) == \
        "a_red_1_2_cat_lora_x_1"


@pytest.mark.parametrize("fmt, suffix", [("png", "png"), ("jpeg", "jpg"), ("webp", "webp")])
def test_every_output_format_keeps_parameters(tmp_path, fmt, suffix):
    path = tmp_path / f"img.{suffix}"
    save_with_parameters(Image.new("RGB", (64, 64), "red"), path, INFOTEXT, fmt)
    info = read_generation_info(path)
    assert info is not None
    assert info.prompt == "a cat, best quality" and info.negative_prompt == "blurry"
    assert (info.steps, info.seed, info.width, info.height) == (20, 42, 64, 64)


@pytest.mark.parametrize("fmt, suffix", [("jpeg", ".jpg"), ("webp", ".webp")])
def test_saved_settings_choose_format_and_file_name(ctx, fmt, suffix):
    from tests.helpers import small_request

    ctx.user_settings.save(output_format=fmt, filename_pattern="[seed]-[sampler]-[steps]")
    saved = ctx.jobs.run(small_request(seed=77, steps=2), owner="local").saved
    path = saved[0].path
    assert path.suffix == suffix and path.name.endswith(f"-77-Euler-2{suffix}")
    assert path.is_file() and not list((ctx.settings.outputs_dir / ".staging").glob("*"))
    info = read_generation_info(path)
    assert info is not None and info.seed == 77 and info.prompt == "a photo of a cat"
    row = ctx.store.get(saved[0].id)
    assert ctx.store.image_path(row) == path  # the row points at the written file
    assert (ctx.settings.data_dir / "settings.json").is_file()


def test_settings_save_refused_for_non_admins_and_in_demo(settings):
    import gradio as gr

    from webui.app import create_context
    from webui.config import check_settings
    from webui.ui.access import refusal

    settings.auth, settings.admins = "ann:pw1,bob:pw2", ("ann",)
    ctx = create_context(check_settings(settings))
    as_user = lambda name: type("R", (), {"username": name, "session_hash": "s"})()  # noqa: E731
    assert refusal(ctx, as_user("ann")) is None
    assert "admin" in refusal(ctx, as_user("bob"))
    settings.auth, settings.demo = None, True
    assert "demo" in refusal(create_context(settings), as_user(None))
    del gr
