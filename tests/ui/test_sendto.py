"""Send-to in this app's terms: other tools' samplers and seeds, styles taken out of a styled
prompt, values the target fields cannot take skipped with a notice (issue 12 items 2 and 3)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from webui.choices import SAMPLER_NAMES, SAMPLERS, SCHEDULE_TYPES
from webui.metadata.infotext import format_infotext
from webui.metadata.samplers import SamplerMatch, our_sampler
from webui.prompting.styles import SHIPPED_STYLES, StyleLibrary, extract_styles
from webui.request import MAX_SEED
from webui.ui.pnginfo import png_info
from webui.ui.sendto import (fields_from_infotext, fit_fields, installed_checkpoint,
                             prepare_fields)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "metadata"

# each tool's real image -> (our sampler, our schedule type, the skipped part a notice names)
EXPECTED = {
    "a1111_sdxl.png": ("DPM++ 2M", "Karras", None),  # Sampler + Schedule type: Karras
    "a1111_sd15.png": ("UniPC", "Automatic", None),
    "a1111_stealth_alpha.png": ("Euler", "Automatic", None),  # Schedule type: Automatic
    "a1111_jpeg_exif.jpg": ("DPM++ 2M", "Karras", None),
    "a1111_webp.webp": ("DPM++ 2M", "Karras", None),
    "forge.png": ("Euler", "Karras", None),  # Euler + Karras
    "forge_classic_adetailer.png": ("Euler a", "Automatic", None),
    "reforge_hires.webp": ("DPM++ 2M", "Karras", None),
    "sdnext.png": ("DDIM", "Automatic", None),
    "sdnext_jpeg.jpg": ("Euler a", "Automatic", None),
    "civitai_jpeg.jpg": ("Euler a", "Automatic", None),
    # Euler a has no Karras schedule (diffusers' Euler a has no sigmas option)
    "stability_matrix.png": ("Euler a", "Automatic", "Karras"),  # "Euler Ancestral Karras"
    "comfyui_sdxl.png": ("Euler a", "Automatic", "Karras"),  # euler_ancestral + karras
    "comfyui_sdxl_refiner.png": ("Euler", "Automatic", None),  # euler + normal
    "comfyui_legacy_img2img.png": ("DPM++ 2M", "Automatic", None),  # sample_dpmpp_2m + normal
    "comfyui_saveimagewithmetadata.png": ("Euler a", "Automatic", "Karras"),
    "comfyui_webp.webp": ("Euler a", "Automatic", "Karras"),
    "fooocus.png": ("DPM++ 2M SDE", "Karras", None),  # dpmpp_2m_sde_gpu + karras
    "invokeai_v2_sdmeta.png": ("LMS", "Automatic", None),  # k_lms
    "invokeai_v3_sdxl.png": ("Euler", "Automatic", None),
    "invokeai_v6_sdxl.png": ("Euler a", "Automatic", None),  # euler_a
    "novelai_v1.png": ("Euler a", "Automatic", None),  # k_euler_ancestral
    "novelai_v45.png": ("Euler a", "Automatic", "Karras"),  # + noise_schedule karras
    "swarmui.png": ("Euler a", "Automatic", "Karras"),
    "swarmui_jpeg.jpg": ("Euler a", "Automatic", "Karras"),
}


def _sample(name: str) -> str:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"metadata sample {name} not found (expected the shared samples at {SAMPLES})")
    return str(path)


def test_expected_covers_every_sample() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"metadata samples not found at {SAMPLES}")
    assert {p.name for p in SAMPLES.iterdir() if p.suffix != ".md"} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tools_sampler_becomes_ours(name: str) -> None:
    sampler, schedule, skipped = EXPECTED[name]
    _, _, message, payload = png_info(_sample(name))
    assert (payload["sampler"], payload["scheduler"]) == (sampler, schedule)
    assert sampler in SAMPLERS and schedule in SCHEDULE_TYPES.values()
    if skipped:  # what could not be kept is said, in the PNG Info message too
        assert any(skipped in n for n in payload["notices"]) and skipped in message
    else:
        assert not [n for n in payload["notices"] if "ampler" in n or "chedule" in n]


def test_comfyui_seed_is_kept_and_a_seed_beyond_the_range_is_skipped_with_a_notice() -> None:
    _, _, _, comfy = png_info(_sample("comfyui_sdxl.png"))
    assert comfy["seed"] == 422847914351919 <= MAX_SEED
    _, _, message, fooocus = png_info(_sample("fooocus.png"))  # Fooocus draws up to 2**63-1
    assert fooocus["seed"] is None
    assert "6952411511246973023" in message and "Seed box was left as it was" in message


def test_a_sampler_with_no_equivalent_is_skipped_and_named() -> None:
    match = our_sampler("res_multistep", "beta")
    assert match.name is None and "res_multistep" in match.notice
    fields = prepare_fields({"sampler": "Restart", "seed": 5}, None)
    assert fields["sampler"] is None and "'Restart'" in fields["notices"][0]
    assert fields["seed"] == 5
    # a schedule we lack: our sampler, the schedule named as skipped
    assert our_sampler("dpmpp_2m", "kl_optimal").name == "DPM++ 2M"
    assert "kl_optimal" in our_sampler("dpmpp_2m", "kl_optimal").notice
    # one we have, from ComfyUI's names and from A1111's combined ones
    assert our_sampler("dpmpp_2m", "exponential") == SamplerMatch("DPM++ 2M", "Exponential")
    assert our_sampler("DPM++ 2M SDE Karras") == SamplerMatch("DPM++ 2M SDE", "Karras")


def test_a_sent_sampler_fills_both_dropdowns() -> None:
    """An old infotext's combined name is split; a plain sampler sets Schedule type back to
    Automatic (a Karras left from before would change its meaning); Clip skip comes along,
    1 when the infotext has none (as A1111 pastes it)."""
    old = fields_from_infotext("a fox\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, "
                               "Seed: 5, Size: 1024x1024, Clip skip: 2", None, "txt2img")
    fields = prepare_fields(old, None)
    assert (fields["sampler"], fields["scheduler"], fields["clip_skip"]) == (
        "DPM++ 2M", "Karras", 2)
    plain = prepare_fields(fields_from_infotext(
        "a fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5", None, "txt2img"), None)
    assert (plain["sampler"], plain["scheduler"], plain["clip_skip"]) == (
        "Euler a", "Automatic", 1)


def test_fit_fields_skips_what_the_target_components_cannot_take() -> None:
    with gr.Blocks():
        comps = {"sampler": gr.Dropdown(SAMPLER_NAMES, label="Sampling method"),
                 "styles": gr.Dropdown(["cinematic"], multiselect=True, label="Styles"),
                 "steps": gr.Slider(1, 150, label="Sampling steps"),
                 "width": gr.Slider(512, 2048, step=8, label="Width"),
                 "height": gr.Slider(512, 2048, step=8, label="Height")}
    fields, notices = fit_fields({"sampler": "Euler a", "styles": ["cinematic", "gone"],
                                  "steps": 500, "width": 1024, "height": 1020}, comps)
    assert fields["sampler"] == "Euler a" and fields["styles"] == ["cinematic"]
    assert fields["steps"] is None and fields["width"] is None and fields["height"] is None
    text = " ".join(notices)
    assert "'gone'" in text and "500" in text and "1024x1020" in text


def test_checkpoint_names_match_across_tools() -> None:
    installed = ["sdxl/juggernautXL_v8Rundiffusion.safetensors", "tiny-sdxl"]
    assert installed_checkpoint("juggernautXL_v8Rundiffusion", installed) == installed[0]
    assert installed_checkpoint("Tiny-SDXL.safetensors", installed) == "tiny-sdxl"
    assert installed_checkpoint("waiIllustriousSDXL_v160.safetensors", installed) is None


@pytest.mark.parametrize("names", [["cinematic"], ["photographic", "anime"], ["enhance"],
                                   ["line-art", "pixel-art", "origami"]])
def test_styles_applied_are_taken_out_again(names) -> None:
    library = StyleLibrary(SHIPPED_STYLES)
    prompt, negative = library.apply("a red fox, snow", "blurry", names)
    assert prompt != "a red fox, snow"
    # from the infotext's Styles key, and without it (found by their texts, as A1111 does)
    for hint in (names, None):
        assert extract_styles(prompt, negative, library.styles(), hint) == (
            "a red fox, snow", "blurry", names)


def test_a_prompt_without_style_text_is_left_alone() -> None:
    styles = StyleLibrary(SHIPPED_STYLES).styles()
    assert extract_styles("cinematic film still of a fox", "", styles) == (
        "cinematic film still of a fox", "", [])
    # a Styles key whose text is not in the prompt (the style was edited): nothing is taken
    assert extract_styles("a fox", "", styles, ["cinematic"]) == ("a fox", "", [])


def test_send_of_a_styled_infotext_gives_the_users_prompt_and_the_style(ctx) -> None:
    """What the engine writes for a styled job (the styled prompt plus ``Styles``) comes
    back as the user's prompt with the style selected, so Generate applies it once."""
    prompt, negative = ctx.styles.apply("a lighthouse at dusk", "", ["cinematic"])
    text = format_infotext(prompt, negative, {"Steps": 2, "Sampler": "Euler a", "Seed": 7,
                                              "Size": "64x64", "Styles": "cinematic"})
    fields = prepare_fields(fields_from_infotext(text, None, "txt2img"), ctx)
    assert fields["prompt"] == "a lighthouse at dusk" and fields["negative_prompt"] == ""
    assert fields["styles"] == ["cinematic"] and fields["notices"] == []
    assert prepare_fields(fields, ctx) is fields  # once only: a second pass changes nothing
    assert ctx.styles.apply(fields["prompt"], "", fields["styles"])[0] == prompt


@pytest.mark.parametrize("fmt, suffix", [("png", "png"), ("jpeg", "jpg"), ("webp", "webp")])
def test_a_result_saved_in_any_output_format_sends_its_parameters(tmp_path, fmt, suffix):
    """Settings can save results as JPEG or WebP (infotext in EXIF): Send-to still reads it."""
    from PIL import Image

    from webui.imageio import save_with_parameters
    from webui.ui.sendto import fields_from_file

    path = tmp_path / f"result.{suffix}"
    save_with_parameters(Image.new("RGB", (64, 64), "teal"), path,
                         "a teal cube\nNegative prompt: dust\nSteps: 9, Sampler: Euler, "
                         "CFG scale: 4, Seed: 77, Size: 64x64", fmt)
    fields = fields_from_file(str(path), "txt2img")
    assert (fields["prompt"], fields["negative_prompt"], fields["steps"], fields["seed"]) == \
        ("a teal cube", "dust", 9, 77)
