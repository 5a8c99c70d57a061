"""Bad input is refused with a clear message and leaves nothing behind."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import small_request
from webui.models.loader import ModelLoadError
from webui.models.registry import ModelNotFound
from webui.request import RequestError


@pytest.mark.parametrize("change, message", [
    ({"width": 65}, "width must be a multiple of 8, got 65"),
    ({"height": 100}, "height must be a multiple of 8, got 100"),
    ({"width": 56}, "width must be between 64 and 2048, got 56"),
    ({"height": 2056}, "height must be between 64 and 2048, got 2056"),
    ({"steps": 0}, "steps must be between 1 and 150, got 0"),
    ({"steps": 151}, "steps must be between 1 and 150, got 151"),
    ({"cfg_scale": 30.5}, "CFG scale must be between 0 and 30, got 30.5"),
    ({"cfg_scale": -1}, "CFG scale must be between 0 and 30, got -1"),
    ({"seed": "abc"}, "seed must be a whole number, got 'abc'"),
    ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
    ({"sampler": "Nope"}, "unknown sampler 'Nope'"),
    ({"scheduler": "Polyexponential"}, "unknown schedule type 'Polyexponential'; choose one "
                                       "of: Automatic, Uniform, Karras, Exponential"),
    ({"sampler": "Euler a", "scheduler": "Karras"},
     "Euler a has no Karras schedule here; choose one of: Automatic, Uniform, SGM Uniform"),
    ({"sampler": "DPM++ 2M Karras", "scheduler": "Exponential"},
     "sampler 'DPM++ 2M Karras' names schedule type Karras, but the schedule type is "
     "Exponential: choose one"),
    ({"clip_skip": 0}, "clip skip must be between 1 and 11, got 0"),
    ({"clip_skip": "two"}, "clip skip must be a whole number, got 'two'"),
    ({"batch_size": 0}, "batch size must be between 1 and 8, got 0"),
])
def test_bad_request_refused_before_anything_runs(ctx, change, message):
    with pytest.raises(RequestError) as err:
        ctx.jobs.run(small_request(**change))
    assert message in str(err.value)
    assert ctx.manager.current is None  # nothing was even loaded
    assert not list(ctx.settings.outputs_dir.rglob("*.png"))
    assert ctx.store.count() == 0


def test_size_limit_is_configurable(tiny_models_dir, tmp_path):
    from dataclasses import replace

    from webui.app import create_context
    from webui.config import Limits, Settings

    s = Settings(models_dir=tiny_models_dir, outputs_dir=tmp_path / "o", data_dir=tmp_path / "d",
                 limits=replace(Limits(), max_size=512))
    with pytest.raises(RequestError, match="between 64 and 512, got 520"):
        create_context(s).jobs.run(small_request(width=520))


def test_no_model_installed_says_where_to_put_one(tmp_path):
    from webui.app import create_context
    from webui.config import Settings

    ctx = create_context(Settings(models_dir=tmp_path / "models", outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d"))
    with pytest.raises(ModelNotFound) as err:
        ctx.jobs.run(small_request())
    assert str((tmp_path / "models" / "Stable-diffusion").resolve()) in str(err.value)
    assert ctx.store.count() == 0


def corrupt_copy(tiny_models_dir, tmp_path, how):
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    weights = models / "Stable-diffusion/tiny-sdxl-b/unet/diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00garbage" * 10)
    return models


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_corrupt_checkpoint_clear_error_and_current_model_kept(tiny_models_dir, tmp_path, how):
    from webui.app import create_context
    from webui.config import Settings

    models = corrupt_copy(tiny_models_dir, tmp_path, how)
    ctx = create_context(Settings(models_dir=models, outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d"))
    ctx.jobs.run(small_request(model="tiny-sdxl-a"))
    with pytest.raises(ModelLoadError) as err:
        ctx.jobs.run(small_request(model="tiny-sdxl-b"))
    assert "diffusion_pytorch_model.safetensors" in str(err.value)
    assert ("truncated" in str(err.value)) if how == "truncated" else True
    assert ctx.manager.current.info.name == "tiny-sdxl-a"  # still loaded and usable
    assert ctx.store.count() == 1
    ctx.jobs.run(small_request(model="tiny-sdxl-a"))
    assert ctx.store.count() == 2


def test_missing_checkpoint_named(ctx):
    with pytest.raises(ModelNotFound, match="'nope' not found"):
        ctx.jobs.run(small_request(model="nope"))


@pytest.mark.parametrize("change", [
    dict(enable_hr=True, hr_denoising_strength=0.0),  # A1111's API test sends this
    dict(enable_hr=True, hr_denoising_strength=0.1),  # 0.1 x 2 steps rounds to zero steps
    dict(mode="img2img", denoising_strength=0.3),  # likewise for img2img
    dict(mode="img2img", denoising_strength=0.0),
])
def test_low_denoising_strength_is_accepted(change):
    """A1111 and ComfyUI run such a job (one step); validation must not refuse it."""
    from PIL import Image

    from webui.config import Limits
    from webui.request import validate

    if change.get("mode") == "img2img":
        change["init_image"] = Image.new("RGB", (64, 64), (10, 20, 30))
    req = validate(small_request(**change), Limits())
    assert req.steps == 2


def test_styles_come_from_the_apps_styles_file_without_the_ui(tmp_path):
    """The app context holds the one styles library (<data-dir>/styles.csv): a style the
    user added there works through the API door alone (--nowebui), no UI built."""
    from webui.app import create_context
    from webui.config import Limits, Settings
    from webui.request import validate

    data = tmp_path / "data"
    data.mkdir()
    (data / "styles.csv").write_text('name,prompt,negative_prompt\n'
                                     'my-style,"{prompt}, in chalk",smudged\n')
    ctx = create_context(Settings(models_dir=tmp_path / "models", outputs_dir=tmp_path / "o",
                                  data_dir=data, device="cpu"))
    assert ctx.styles.names() == ["my-style"]
    req = validate(small_request(styles=["my-style"]), Limits(), ctx.styles)
    assert req.style_texts == (("{prompt}, in chalk", "smudged"),)
    with pytest.raises(RequestError, match="style"):
        validate(small_request(styles=["cinematic"]), Limits(), ctx.styles)  # shipped only
    assert "cinematic" in validate(small_request(styles=["cinematic"]), Limits()).styles


def test_validate_returns_a_new_frozen_request_and_leaves_the_callers_alone():
    """A validated request is a value: normalised fields and notices on a new object, the
    caller's request untouched (a front door may retry or log it as sent)."""
    import dataclasses

    from PIL import Image

    from webui.config import Limits
    from webui.request import validate

    sent = small_request(width="64", steps=2.0, styles=["cinematic", ""], mode="inpaint",
                         init_image=Image.new("RGBA", (64, 64)),
                         mask=Image.new("L", (32, 32), 255))
    ran = validate(sent, Limits())
    assert (ran.width, ran.steps, ran.styles) == (64, 2, ("cinematic",))
    assert ran.init_image.mode == "RGB" and ran.mask.size == (64, 64)
    assert ran.notices == ("mask was 32x32, resized to the image's 64x64",)
    assert (sent.width, sent.steps, sent.styles) == ("64", 2.0, ["cinematic", ""])
    assert sent.init_image.mode == "RGBA" and sent.mask.size == (32, 32) and sent.notices == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ran.width = 128


def test_settings_defaults_are_checked_against_the_apps_limits(tmp_path):
    """The Settings tab's defaults obey the same limits (and words) as a request: a demo
    server's 30-step limit refuses a 40-step default as it would refuse the job."""
    from webui.config import Limits
    from webui.request import validate
    from webui.user_settings import SettingsStore

    store = SettingsStore(tmp_path / "settings.json", Limits(max_steps=30, max_size=1024))
    with pytest.raises(RequestError, match="steps must be between 1 and 30, got 40") as refused:
        store.save(steps=40)
    with pytest.raises(RequestError) as as_job:
        validate(small_request(steps=40), Limits(max_steps=30))
    assert str(refused.value) == str(as_job.value)
    with pytest.raises(RequestError, match="width must be between 64 and 1024, got 1536"):
        store.save(width=1536)
    assert store.save(steps=30).steps == 30
    # a roomier server accepts what this one refuses
    assert SettingsStore(tmp_path / "b.json", Limits()).save(steps=40).steps == 40


@pytest.mark.parametrize("sampler, scheduler, expected", [
    ("DPM++ 2M Karras", "Automatic", ("DPM++ 2M", "Karras")),  # A1111 before 1.9
    ("DPM++ 2M SDE Karras", None, ("DPM++ 2M SDE", "Karras")),
    ("DPM++ 2M", "karras", ("DPM++ 2M", "Karras")),  # A1111's API name
    ("Euler", "sgm_uniform", ("Euler", "SGM Uniform")),
    ("LMS Karras", "Karras", ("LMS", "Karras")),
    ("Euler a", "", ("Euler a", "Automatic")),
])
def test_sampler_and_schedule_type_are_normalised(ctx, sampler, scheduler, expected):
    from webui.request import validate

    req = validate(small_request(sampler=sampler, scheduler=scheduler), ctx.settings.limits)
    assert (req.sampler, req.scheduler) == expected
