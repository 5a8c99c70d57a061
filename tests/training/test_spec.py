"""Bad training requests get a clear error before any work starts, and nothing is written."""

from __future__ import annotations

import pytest

from tests.training.helpers import files_under, huge_png_header, pattern, png_bytes
from webui.errors import RequestError
from webui.training.spec import (DEFAULT_CAPTION, MAX_TRAIN_STEPS, TrainingSpec, check_name,
                                 validate_spec)


@pytest.fixture
def lora_dir(tmp_path):
    folder = tmp_path / "models" / "Lora"
    folder.mkdir(parents=True)
    (folder / "taken.safetensors").write_bytes(b"x")
    return folder


def spec(**kw) -> TrainingSpec:
    base = dict(name="mine", images=tuple(pattern(i) for i in range(3)), resolution=64)
    base.update(kw)
    return TrainingSpec(**base)


def refused(lora_dir, match, **kw):
    before = files_under(lora_dir.parent)
    with pytest.raises(RequestError, match=match):
        validate_spec(spec(**kw), lora_dir)
    assert files_under(lora_dir.parent) == before, "a refused request wrote something"


def test_good_request_is_normalised(lora_dir):
    out = validate_spec(spec(images=(png_bytes(pattern(1)), pattern(2).convert("L"),
                                     pattern(3).convert("RGBA"))), lora_dir)
    assert [im.mode for im in out.images] == ["RGB"] * 3
    assert out.captions == (DEFAULT_CAPTION.format(trigger="ohwx", class_word="person"),) * 3
    assert out.network_alpha == out.rank


@pytest.mark.parametrize("n", [0, 1, 2, 51])
def test_too_few_or_too_many_images(lora_dir, n):
    refused(lora_dir, r"3 to 50 images, got %d" % n, images=tuple(pattern(i) for i in range(n)))


def test_a_non_image(lora_dir):
    refused(lora_dir, r"training image 2 is not an image",
            images=(pattern(0), b"not a picture at all", pattern(2)))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_100_megapixel_image(lora_dir):
    refused(lora_dir, r"training image 3 is 10000x10000 = 100000000 pixels, above the limit",
            images=(pattern(0), pattern(1), huge_png_header()))


@pytest.mark.parametrize("steps", [0, 10**6, -5])
def test_steps_out_of_range(lora_dir, steps):
    refused(lora_dir, rf"steps must be between 1 and {MAX_TRAIN_STEPS}, got {steps}", steps=steps)


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", "..", "", "   ", "x:y", "<lora>"])
def test_names_that_are_paths_or_break_prompt_tags(lora_dir, name):
    refused(lora_dir, r"LoRA name|needs a name", name=name)


def test_existing_name_is_refused_case_insensitively(lora_dir):
    refused(lora_dir, r"already exists", name="Taken")


@pytest.mark.parametrize("field,value,match", [
    ("rank", 0, "rank must be between"), ("learning_rate", 0, "learning rate must be"),
    ("resolution", 100, "multiple of 8"), ("resolution", 10_000, "resolution must be between"),
    ("batch_size", 4, "batch size must be between 1 and 3"), ("optimizer", "SGD", "optimizer"),
    ("captions", ("one",), "captions for 3 images"), ("trigger", "a:b", "trigger word"),
    ("seed", -1, "seed must be"), ("gradient_accumulation", 0, "gradient accumulation"),
])
def test_other_bad_settings(lora_dir, field, value, match):
    refused(lora_dir, match, **{field: value})


def test_check_name_without_a_folder():
    assert check_name(" Ok name-1 ", None) == "Ok name-1"


def test_a_name_taken_in_a_subfolder_is_refused(lora_dir):
    (lora_dir / "styles").mkdir()
    (lora_dir / "styles" / "Deep.safetensors").write_bytes(b"x")
    refused(lora_dir, r"already exists", name="deep")  # <lora:deep> would find styles/Deep


@pytest.mark.parametrize("kind", ["refiner", "inpaint"])
def test_only_an_sdxl_base_trains(kind, tmp_path):
    from webui.testing.tiny_models import build_pipeline
    from webui.training.trainer import LoraTraining

    pipe = (build_pipeline("refiner", 1) if kind == "refiner"
            else build_pipeline("base", 1, in_channels=9))
    with pytest.raises(RequestError, match="SDXL base"):
        LoraTraining(pipe, validate_spec(spec(), None), tmp_path / "state")
    assert not (tmp_path / "state").exists()
