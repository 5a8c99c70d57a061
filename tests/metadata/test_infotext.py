"""Tests for webui.metadata.infotext: A1111 infotext writing, parsing and typing."""

from __future__ import annotations

from pathlib import Path

import pytest

from webui.metadata.infotext import (
    format_infotext,
    format_value,
    params_to_typed,
    parse_infotext,
    parse_params_line,
    quote,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "metadata"

BASE_PARAMS = {"Steps": 20, "Sampler": "Euler a", "CFG scale": 7.0, "Seed": 123, "Size": "1024x1024"}


def _expected_params(params: dict[str, object]) -> dict[str, str]:
    return {key: format_value(value) for key, value in params.items() if value not in (None, "")}


@pytest.mark.parametrize(
    ("prompt", "negative", "params"),
    [
        ("a cat", "ugly", BASE_PARAMS),
        ("a cat", "", BASE_PARAMS),
        ("", "only negative", BASE_PARAMS),
        ("line one,\nline two\n\nline four", "neg one\nneg two", BASE_PARAMS),
        ("trailing space \n", "trailing newline\n", BASE_PARAMS),
        ("  leading spaces", " neg", BASE_PARAMS),
        ("(masterpiece:1.2), <lora:x:0.8>", "a: b, c: d", BASE_PARAMS),
        ("テスト, #タグ", "低品質", {**BASE_PARAMS, "Model": "モデル"}),
        (
            "a",
            "b",
            {
                **BASE_PARAMS,
                "Model hash": "0123456789",
                "Model": "sd_xl_base_1.0",
                "VAE": "sdxl_vae.safetensors",
                "Denoising strength": 0.7,
                "Refiner": "sd_xl_refiner_1.0 [7440042bbd]",
                "Refiner switch at": 0.8,
                "Lora hashes": "add_detail: 7c6bad76eb54, more: 0123",
                "Hires upscale": 1.5,
                "Schedule type": "Karras",
                "Note": 'he said "hi", then: left\nnew line',
                "Quoted": '"already quoted"',
                "Bracket": "[not json",
                "Padded": "  spaced  ",
                "Flag": True,
                "Version": "v1.10.1",
            },
        ),
    ],
)
def test_round_trip_is_exact(prompt: str, negative: str, params: dict[str, object]) -> None:
    text = format_infotext(prompt, negative, params)
    parsed = parse_infotext(text)
    assert parsed["prompt"] == prompt
    assert parsed["negative_prompt"] == negative
    assert parsed["params"] == _expected_params(params)
    assert list(parsed["params"]) == list(_expected_params(params))


def test_format_layout_matches_a1111() -> None:
    text = format_infotext(
        "a cat",
        "ugly",
        {"Steps": 20, "Sampler": "Euler a", "CFG scale": 7.0, "Seed": 123, "Size": "1024x1024",
         "Model hash": "0123456789", "Model": "name"},
    )
    assert text == (
        "a cat\nNegative prompt: ugly\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 1024x1024, "
        "Model hash: 0123456789, Model: name"
    )


def test_integer_valued_floats_lose_the_point() -> None:
    text = format_infotext("p", "", {"Steps": 20, "CFG scale": 7.0, "Denoising strength": 0.75,
                                     "Hires upscale": 2.0, "Other": 7.5})
    assert "CFG scale: 7," in text
    assert "Denoising strength: 0.75," in text
    assert "Hires upscale: 2," in text
    assert text.endswith("Other: 7.5")
    assert parse_infotext(text)["params"]["CFG scale"] == "7"
    assert format_value(-3.0) == "-3"
    assert format_value(1e20) == "100000000000000000000"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a: 1, b: 2", '"a: 1, b: 2"'),
        ("one,two", '"one,two"'),
        ("key: value", '"key: value"'),
        ("two\nlines", '"two\\nlines"'),
        ("plain value", "plain value"),
        ("DPM++ 2M", "DPM++ 2M"),
        ("テスト", "テスト"),
    ],
)
def test_quoting(value: str, written: str) -> None:
    assert quote(value) == written
    text = format_infotext("p", "", {"Steps": 1, "Seed": 2, "Value": value})
    assert text.splitlines()[-1] == f"Steps: 1, Seed: 2, Value: {written}"
    assert parse_infotext(text)["params"]["Value"] == value


def test_no_negative_line_when_empty() -> None:
    text = format_infotext("a\nb", "", BASE_PARAMS)
    assert "Negative prompt" not in text
    assert text.splitlines()[:2] == ["a", "b"]


def test_none_and_empty_values_are_skipped() -> None:
    text = format_infotext("p", "", {"Steps": 20, "VAE": None, "Refiner": "", "Seed": 1, "Size": "8x8"})
    assert text == "p\nSteps: 20, Seed: 1, Size: 8x8"


def test_invalid_key_is_rejected() -> None:
    with pytest.raises(ValueError):
        format_infotext("p", "", {"Bad: key": 1})


def test_parse_multiline_prompt_and_negative() -> None:
    text = (
        "first line\nsecond line, (tag:1.1)\n"
        "Negative prompt: neg one\nneg two\n"
        "Steps: 30, Sampler: DPM++ 2M, CFG scale: 5.5, Seed: 42, Size: 832x1216"
    )
    parsed = parse_infotext(text)
    assert parsed["prompt"] == "first line\nsecond line, (tag:1.1)"
    assert parsed["negative_prompt"] == "neg one\nneg two"
    assert parsed["params"]["CFG scale"] == "5.5"
    assert parsed["params"]["Size"] == "832x1216"


def test_parse_crlf() -> None:
    text = "a\r\nb\r\nNegative prompt: c\r\nSteps: 1, Sampler: Euler, CFG scale: 2, Seed: 3"
    parsed = parse_infotext(text)
    assert parsed["prompt"] == "a\nb"
    assert parsed["negative_prompt"] == "c"
    assert parsed["params"] == {"Steps": "1", "Sampler": "Euler", "CFG scale": "2", "Seed": "3"}


def test_last_line_needs_three_pairs() -> None:
    parsed = parse_infotext("a cat\nstyle: anime, mood: calm")
    assert parsed["prompt"] == "a cat\nstyle: anime, mood: calm"
    assert parsed["params"] == {}


def test_prompt_only_and_empty_text() -> None:
    assert parse_infotext("just a prompt") == {"prompt": "just a prompt", "negative_prompt": "", "params": {}}
    assert parse_infotext("") == {"prompt": "", "negative_prompt": "", "params": {}}


def test_params_only() -> None:
    parsed = parse_infotext("Steps: 1, Sampler: Euler, CFG scale: 2")
    assert parsed["prompt"] == ""
    assert parsed["params"]["Sampler"] == "Euler"


def test_a1111_docstring_example() -> None:
    text = (
        "girl with an artist's beret, determined, blue eyes, desert scene, ((eyeshadow)), (coquettish)\n"
        "Negative prompt: ugly, fat, obese, (((deformed))), [blurry], bad anatomy\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b"
    )
    parsed = parse_infotext(text)
    assert parsed["prompt"].startswith("girl with an artist's beret")
    assert parsed["negative_prompt"] == "ugly, fat, obese, (((deformed))), [blurry], bad anatomy"
    assert parsed["params"] == {
        "Steps": "20", "Sampler": "Euler a", "CFG scale": "7", "Seed": "965400086",
        "Size": "512x512", "Model hash": "45dee52b",
    }


def test_unquoted_json_values_are_kept_whole() -> None:
    line = (
        'Steps: 25, Sampler: Euler a, Created Date: 2026-01-04T01:27:21.2717070Z, '
        'Civitai resources: [{"type":"checkpoint","modelVersionId":2514310,"modelName":"WAI"}], '
        'Hashes: {"model": "45a21ea00a", "lora:x": "1"}, Civitai metadata: {}'
    )
    params = parse_params_line(line)
    assert params == {
        "Steps": "25",
        "Sampler": "Euler a",
        "Created Date": "2026-01-04T01:27:21.2717070Z",
        "Civitai resources": '[{"type":"checkpoint","modelVersionId":2514310,"modelName":"WAI"}]',
        "Hashes": '{"model": "45a21ea00a", "lora:x": "1"}',
        "Civitai metadata": "{}",
    }


def test_params_line_skips_garbage_segments() -> None:
    params = parse_params_line('Steps: 20, (junk), Seed: 5, Note: "unterminated, CFG scale: 4')
    assert params["Steps"] == "20"
    assert params["Seed"] == "5"
    assert params["CFG scale"] == "4"


def test_params_to_typed() -> None:
    typed = params_to_typed(
        {
            "Steps": "20", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "7",
            "Seed": "3782896554", "Size": "1024x768", "Model hash": "45a21ea00a",
            "Model": "wai", "Denoising strength": "0.3", "Clip skip": "2", "Hires upscale": "1.5",
            "Hires resize": "2048x1536", "Refiner switch at": "0.8", "Hires CFG Scale": "6",
            "Version": "v1.10.1",
        }
    )
    assert typed == {
        "steps": 20, "sampler": "DPM++ 2M", "scheduler": "Karras", "cfg_scale": 7.0,
        "seed": 3782896554, "width": 1024, "height": 768, "model_hash": "45a21ea00a",
        "model": "wai", "denoising_strength": 0.3, "clip_skip": 2, "hires_upscale": 1.5,
        "hires_width": 2048, "hires_height": 1536, "refiner_switch_at": 0.8,
        "hires_cfg_scale": "6", "version": "v1.10.1",
    }
    assert isinstance(typed["cfg_scale"], float)


def test_params_to_typed_skips_bad_values() -> None:
    typed = params_to_typed({"Steps": "many", "Seed": "20.0", "CFG scale": "x", "Size": "big",
                             "Seed resize from": "-1x-1"})
    assert "steps" not in typed and "cfg_scale" not in typed and "width" not in typed
    assert typed["seed"] == 20
    assert typed["seed_resize_from"] == "-1x-1"


def test_parse_a1111_sample() -> None:
    path = SAMPLES / "a1111_sdxl.png"
    if not path.is_file():
        pytest.skip(f"metadata samples not found at {SAMPLES}")
    from PIL import Image

    with Image.open(path) as image:
        text = image.text["parameters"]
    parsed = parse_infotext(text)
    assert parsed["prompt"] == (
        "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, テスト\n"
    )
    assert parsed["negative_prompt"] == "bad quality, worst quality, worst detail, sketch, censor, \n"
    assert parsed["params"] == {
        "Steps": "20", "Sampler": "DPM++ 2M", "Schedule type": "Karras", "CFG scale": "7",
        "Seed": "3782896554", "Size": "1024x1024", "Model hash": "45a21ea00a",
        "Model": "waiIllustriousSDXL_v160", "Version": "v1.10.1",
    }
    # Writing it back gives the same text.
    assert format_infotext(parsed["prompt"], parsed["negative_prompt"], parsed["params"]) == text
