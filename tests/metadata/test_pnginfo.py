"""Tests for webui.metadata.pnginfo: reading generation parameters written by many tools.

The real-image cases read the samples described in shared/samples/metadata/README.md (never copied
into the repository); the expected values below are that README's table.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from webui.metadata.a1111 import info_from_infotext
from webui.metadata.exif import decode_user_comment
from webui.metadata.info import GenerationInfo
from webui.metadata.infotext import parse_infotext
from webui.metadata.pnginfo import read_generation_info
from webui.metadata.stealth import read_stealth_info

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "metadata"

GENERAL = "general, masterpiece, best quality, amazing quality,"
BAD = "bad quality, worst quality, worst detail, sketch, censor,"
WAI = "waiIllustriousSDXL_v160"
WAI_FILE = "waiIllustriousSDXL_v160.safetensors"
WAI_HASH = "45a21ea00a"


@dataclass(frozen=True)
class Expected:
    """One row of the README table."""

    file: str
    source: str
    prompt: str
    negative: str
    steps: int
    sampler: str
    scheduler: str | None
    cfg: float
    seed: int
    size: tuple[int, int] | None
    model: str | None
    model_hash: str | None = None  # prefix of the hash, when the file stores one


EXPECTED = [
    Expected("a1111_sdxl.png", "a1111", GENERAL, BAD, 20, "DPM++ 2M", "Karras", 7, 3782896554,
             (1024, 1024), WAI, WAI_HASH),
    Expected("a1111_sd15.png", "a1111", "photo of a duck", "monochrome", 15, "UniPC", None, 5,
             235284042, (512, 400), "realistic_realisticVisionV20_v20", "c0d1994c73"),
    Expected("a1111_stealth_alpha.png", "a1111", "a circle", "a square", 20, "Euler", "Automatic", 7,
             2015833630, (64, 64), "realisticVisionV51_v51VAE", "15012c538f"),
    Expected("a1111_jpeg_exif.jpg", "a1111", GENERAL, BAD, 20, "DPM++ 2M", "Karras", 5.5,
             3623174757, (1024, 1024), WAI, WAI_HASH),
    Expected("a1111_webp.webp", "a1111", GENERAL, BAD, 20, "DPM++ 2M", "Karras", 5.5, 1028435836,
             (1024, 1024), WAI, WAI_HASH),
    Expected("forge.png", "forge", GENERAL, BAD, 25, "Euler", "Karras", 5, 747066619, (1024, 1024),
             WAI, WAI_HASH),
    Expected("forge_classic_adetailer.png", "forge", GENERAL, BAD, 24, "Euler a", "Automatic", 4,
             4179307297, (1024, 1024), "waiNSFWIllustrious_v140", "c9b4dab236"),
    Expected("reforge_hires.webp", "forge", GENERAL, BAD, 20, "DPM++ 2M", "Karras", 6, 1010990389,
             (1024, 1024), WAI, WAI_HASH),
    Expected("sdnext.png", "sdnext", GENERAL, BAD, 20, "DDIM", None, 6, 2427651458, (1024, 1024),
             WAI, WAI_HASH),
    Expected("sdnext_jpeg.jpg", "sdnext", GENERAL, BAD, 20, "Euler a", None, 6, 899700607,
             (1024, 1024), WAI, WAI_HASH),
    Expected("comfyui_sdxl.png", "comfyui", GENERAL, BAD, 20, "euler_ancestral", "karras", 5.0,
             422847914351919, (1024, 1024), WAI_FILE),
    Expected("comfyui_sdxl_refiner.png", "comfyui",
             "evening sunset scenery blue sky nature, glass bottle with a galaxy in it",
             "text, watermark", 25, "euler", "normal", 8.0, 721897303308196, (1024, 1024),
             "sd_xl_base_1.0.safetensors"),
    Expected("comfyui_legacy_img2img.png", "comfyui",
             "photograph of victorian woman with wings, sky clouds, meadow grass",
             "watermark, text", 20, "sample_dpmpp_2m", "normal", 8.0, 280823642470253, None,
             "v1-5-pruned-emaonly.ckpt"),
    Expected("comfyui_saveimagewithmetadata.png", "comfyui", GENERAL, BAD, 20,
             "euler_ancestral_karras", None, 5.0, 38802053347333, (1024, 1024), WAI_FILE, WAI_HASH),
    Expected("comfyui_webp.webp", "comfyui", GENERAL, BAD, 20, "euler_ancestral", "karras", 5.0,
             270932924124066, (1024, 1024), WAI_FILE),
    Expected("invokeai_v2_sdmeta.png", "invokeai", "professional full body photo of young woman,",
             "rendering, glowing eyes, skinny", 50, "k_lms", None, 5, 2980747362, (512, 768),
             "deliberateForInvoke_v08", "56d1442a0fee"),
    Expected("invokeai_v3_sdxl.png", "invokeai",
             "digital artwork, oil painting. painterly brushstrokes, holidays,",
             "grainy+, photo, oversaturated, overexposed, blurry,", 35, "euler", None, 8.0,
             3293022630, (1024, 1024), "juggernautXL"),
    Expected("invokeai_v6_sdxl.png", "invokeai", GENERAL, BAD, 24, "euler_a", None, 6.0, 3951921344,
             (1024, 1024), WAI, "blake3:7c1631b4"),
    Expected("fooocus.png", "fooocus", "a smiling goldfish", "", 30, "dpmpp_2m_sde_gpu", "karras", 4,
             6952411511246973023, (768, 1280), "juggernautXL_v8Rundiffusion", "aeb7e9e689"),
    Expected("novelai_v1.png", "novelai", "masterpiece, best quality,  cat, space, icon",
             "lowres, bad anatomy, bad hands, text, error,", 50, "k_euler_ancestral", None, 10.0,
             2253955223, None, "Stable Diffusion", "1D44365E"),
    Expected("novelai_v45.png", "novelai",
             "1girl, solo, hatsune miku, #テスト, very aesthetic, masterpiece, no text",
             "nsfw, lowres, artistic error, film grain,", 28, "k_euler_ancestral", "karras", 5.0,
             2043807047, (832, 1216), "NovelAI Diffusion V4.5", "4BDE2A90"),
    Expected("swarmui.png", "swarmui", GENERAL, BAD, 20, "euler_ancestral", "karras", 7.0,
             2083100758, (1024, 1024), WAI),
    Expected("swarmui_jpeg.jpg", "swarmui", GENERAL, BAD, 20, "euler_ancestral", "karras", 7.0,
             697543491, (1024, 1024), WAI),
    Expected("stability_matrix.png", "stability_matrix", GENERAL, BAD, 20, "Euler Ancestral Karras",
             None, 5, 395309383, (1024, 1024), WAI_FILE,
             "A5F58EB1C33616C4F06BCA55AF39876A7B817913CD829CAA8ACB111B770C85CC"),
    # No "Model:" key: the name comes from the "Civitai resources" checkpoint entry.
    Expected("civitai_jpeg.jpg", "civitai", GENERAL, BAD, 25, "Euler a", None, 5, 1311178179,
             (1024, 1024), "WAI-illustrious-SDXL v16.0"),
]

# README: the second line of the two-line "general, masterpiece, ..." prompts.
SECOND_LINES = {
    "a1111_sdxl.png": "1girl, solo, hatsune miku, テスト",
    "a1111_jpeg_exif.jpg": "1girl, solo, hatsune miku, テスト",
    "a1111_webp.webp": "1girl, solo, hatsune miku, テスト",
    "forge.png": "1girl, solo, hatsune miku, テスト",
    "reforge_hires.webp": "1girl, solo, hatsune miku, テスト",
    "comfyui_sdxl.png": "1girl, solo, hatsune miku, テスト,",
    "comfyui_webp.webp": "1girl, solo, hatsune miku, テスト,",
    "forge_classic_adetailer.png": "1girl, solo, hatsune miku, cowboy shot, dutch angle, テスト",
    "sdnext.png": "1girl, solo, hatsune miku, #テスト",
    "sdnext_jpeg.jpg": "1girl, solo, hatsune miku, #テスト",
    "civitai_jpeg.jpg": "1girl, solo, hatsune miku, #テスト",
    "swarmui.png": "1girl, solo, hatsune miku, #テスト",
    "swarmui_jpeg.jpg": "1girl, solo, hatsune miku, #テスト",
    "stability_matrix.png": "1girl, solo, hatsune miku, #テスト",
    "invokeai_v6_sdxl.png": "1girl, solo, hatsune miku, #テスト",
    "comfyui_saveimagewithmetadata.png": "1girl, solo, hatsune miku,",
}


def _sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"metadata sample {name} not found (expected the shared samples at {SAMPLES})")
    return path


def _read(name: str) -> GenerationInfo:
    info = read_generation_info(_sample(name))
    assert info is not None, f"nothing read from {name}"
    return info


def test_table_covers_every_sample() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"metadata samples not found at {SAMPLES}")
    on_disk = {path.name for path in SAMPLES.iterdir() if path.suffix != ".md"}
    assert on_disk == {row.file for row in EXPECTED}


@pytest.mark.parametrize("row", EXPECTED, ids=lambda row: row.file)
def test_sample(row: Expected) -> None:
    info = _read(row.file)
    assert info.source == row.source
    assert info.prompt.startswith(row.prompt)
    if row.negative:
        assert info.negative_prompt.startswith(row.negative)
    else:
        assert info.negative_prompt == ""
    assert info.steps == row.steps
    assert info.sampler == row.sampler
    if row.scheduler is not None:
        assert info.scheduler == row.scheduler
    assert info.cfg_scale == pytest.approx(row.cfg)
    assert isinstance(info.cfg_scale, float)
    assert info.seed == row.seed
    assert (info.width, info.height) == (row.size or (None, None))
    assert info.model == row.model
    if row.model_hash is not None:
        assert info.model_hash is not None and info.model_hash.startswith(row.model_hash)
    assert info.raw
    assert info.params


@pytest.mark.parametrize("name", sorted(SECOND_LINES))
def test_second_prompt_line(name: str) -> None:
    """Checks the UTF-16 EXIF decoding and the UTF-8-in-tEXt repair on the non-Latin text."""
    info = _read(name)
    lines = info.prompt.replace("\r\n", "\n").split("\n")
    assert lines[0].rstrip() == GENERAL
    assert lines[1].rstrip() == SECOND_LINES[name]


@pytest.mark.parametrize("row", EXPECTED, ids=lambda row: row.file)
def test_infotext_of_every_sample_reads_back(row: Expected) -> None:
    info = _read(row.file)
    again = info_from_infotext(info.infotext())
    assert again.prompt == info.prompt.replace("\r\n", "\n")
    assert again.negative_prompt == info.negative_prompt.replace("\r\n", "\n")
    for name in ("steps", "sampler", "scheduler", "cfg_scale", "seed", "width", "height", "model",
                 "model_hash"):
        assert getattr(again, name) == getattr(info, name), name


def test_infotext_keeps_a1111_params() -> None:
    info = _read("forge_classic_adetailer.png")
    params = parse_infotext(info.infotext())["params"]
    assert params == info.params
    assert params["ADetailer model"] == "face_yolov8n.pt"


def test_to_table() -> None:
    info = _read("reforge_hires.webp")
    table = dict(info.to_table())
    assert info.to_table()[0] == ("Source", "forge")
    assert table["Prompt"] == info.prompt
    assert table["Steps"] == "20"
    assert table["CFG scale"] == "6"
    assert table["Size"] == "1024x1024"
    assert table["Hires upscale"] == "1.5"
    assert table["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in info.to_table())


def test_to_table_does_not_repeat_prompts() -> None:
    info = _read("swarmui.png")
    values = [value for _, value in info.to_table()]
    assert values.count(info.prompt) == 1
    assert dict(info.to_table())["swarm_version"] == "0.9.7.4"


def test_extra_details() -> None:
    assert _read("a1111_stealth_alpha.png").params["Clip skip"] == "2"
    assert _read("reforge_hires.webp").params["Hires upscale"] == "1.5"
    assert _read("sdnext.png").params["Pipeline"] == "StableDiffusionXLPipeline"
    refiner = _read("comfyui_sdxl_refiner.png")
    assert refiner.params["Refiner"] == "sd_xl_refiner_1.0.safetensors"
    assert refiner.params["Refiner switch at"] == "0.8"
    legacy = _read("comfyui_legacy_img2img.png")
    assert legacy.params["Denoising strength"] == "0.8700000000000001"
    assert _read("comfyui_sdxl.png").params["Clip skip"] == "2"
    assert _read("invokeai_v6_sdxl.png").params["app_version"] == "6.10.0"
    assert _read("novelai_v45.png").params["noise_schedule"] == "karras"
    assert _read("fooocus.png").params["fooocus_scheme"] == "fooocus"


def test_path_str_and_image_inputs_agree() -> None:
    path = _sample("a1111_sd15.png")
    from_path = read_generation_info(path)
    from_str = read_generation_info(str(path))
    with Image.open(path) as image:
        from_image = read_generation_info(image)
    assert from_path == from_str == from_image


# --------------------------------------------------------------------------------------------------
# Synthetic images
# --------------------------------------------------------------------------------------------------


def _png_with_text(chunks: dict[str, str], mode: str = "RGB") -> Image.Image:
    pnginfo = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        pnginfo.add_text(key, value)
    buffer = io.BytesIO()
    Image.new(mode, (8, 8)).save(buffer, "PNG", pnginfo=pnginfo)
    buffer.seek(0)
    return Image.open(buffer)


def _stealth_data(text: str, mode: str, compressed: bool) -> bytes:
    signature = f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}"
    payload = text.encode("utf-8")
    if compressed:
        payload = gzip.compress(payload)
    return signature.encode() + (len(payload) * 8).to_bytes(4, "big") + payload


def _embed_bits(image: Image.Image, data: bytes, mode: str) -> Image.Image:
    """Write ``data`` into a copy of ``image``'s LSBs, column-major, as A1111 stealth-pnginfo does."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    pixels = np.array(image)
    planes = pixels[..., 3:4] if mode == "alpha" else pixels[..., :3]
    column_major = planes.transpose(1, 0, 2).reshape(-1).copy()
    assert bits.size <= column_major.size
    column_major[: bits.size] = (column_major[: bits.size] & 0xFE) | bits
    height, width, channels = planes.shape
    restored = column_major.reshape(width, height, channels).transpose(1, 0, 2)
    if mode == "alpha":
        pixels[..., 3:4] = restored
    else:
        pixels[..., :3] = restored
    return Image.fromarray(pixels, image.mode)


INFOTEXT = (
    "a red fox\nNegative prompt: blurry\n"
    "Steps: 12, Sampler: Euler, CFG scale: 6.5, Seed: 99, Size: 640x480"
)


@pytest.mark.parametrize(
    ("image_mode", "stealth_mode", "compressed"),
    [("RGBA", "alpha", True), ("RGBA", "alpha", False), ("RGB", "rgb", True), ("RGBA", "rgb", False)],
)
def test_stealth_payloads(image_mode: str, stealth_mode: str, compressed: bool) -> None:
    rng = np.random.default_rng(0)
    channels = 4 if image_mode == "RGBA" else 3
    base = Image.fromarray(rng.integers(0, 256, (40, 30, channels), dtype=np.uint8), image_mode)
    image = _embed_bits(base, _stealth_data(INFOTEXT, stealth_mode, compressed), stealth_mode)
    assert read_stealth_info(image) == INFOTEXT
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    info = read_generation_info(Image.open(buffer))
    assert info is not None
    assert (info.prompt, info.negative_prompt, info.steps, info.cfg_scale, info.seed) == (
        "a red fox", "blurry", 12, 6.5, 99)
    assert (info.width, info.height) == (640, 480)


def test_stealth_payload_too_long_or_corrupt() -> None:
    base = Image.new("RGBA", (8, 40), (0, 0, 0, 255))
    assert read_stealth_info(base) is None
    too_long = b"stealth_pnginfo" + (10**6).to_bytes(4, "big") + b"x"
    assert read_stealth_info(_embed_bits(base, too_long, "alpha")) is None
    not_gzip = b"stealth_pngcomp" + (8 * 4).to_bytes(4, "big") + b"junk"
    assert read_stealth_info(_embed_bits(base, not_gzip, "alpha")) is None
    assert read_generation_info(_embed_bits(base, not_gzip, "alpha")) is None


@pytest.mark.parametrize(
    ("byte_order", "encoding"),
    [("<", "utf-16-le"), ("<", "utf-16-be"), (">", "utf-16-be"), (">", "utf-16-le")],
)
def test_exif_user_comment_byte_order_is_sniffed(byte_order: str, encoding: str, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.endian = byte_order
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + INFOTEXT.replace("fox", "狐").encode(encoding)
    path = tmp_path / "exif.jpg"
    Image.new("RGB", (8, 8)).save(path, "JPEG", exif=exif.tobytes())
    info = read_generation_info(path)
    assert info is not None and info.source == "a1111"
    assert info.prompt == "a red 狐"
    assert info.seed == 99


def test_decode_user_comment_variants() -> None:
    assert decode_user_comment(b"ASCII\0\0\0hello") == "hello"
    assert decode_user_comment(b"\0" * 8 + "héllo".encode()) == "héllo"
    assert decode_user_comment(b"UNICODE\0" + "\ufeffhi".encode("utf-16-le")) == "hi"
    assert decode_user_comment(b"UNICODE\0") is None
    assert decode_user_comment("plain") == "plain"
    assert decode_user_comment(12) is None


def test_comfyui_prompt_in_webp_exif_make_model(tmp_path: Path) -> None:
    graph = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly", "clip": ["ckpt", 1]}},
        "lat": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512, "batch_size": 1}},
        "ks": {"class_type": "KSampler", "inputs": {
            "seed": 5, "steps": 9, "cfg": 3.5, "sampler_name": "euler", "scheduler": "simple",
            "denoise": 1.0, "model": ["ckpt", 0], "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["lat", 0]}},
    }
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps({"nodes": [], "links": []})
    exif[0x0110] = "prompt:" + json.dumps(graph)
    path = tmp_path / "comfy.webp"
    Image.new("RGB", (8, 8)).save(path, "WEBP", exif=exif.tobytes(), lossless=True)
    info = read_generation_info(path)
    assert info is not None and info.source == "comfyui"
    assert (info.prompt, info.negative_prompt, info.steps, info.seed) == ("a fox", "ugly", 9, 5)
    assert (info.width, info.height, info.model) == (768, 512, "m.safetensors")


def test_comfyui_sampler_custom_advanced_with_lora_and_primitives() -> None:
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors"}},
        "2": {"class_type": "LoraLoaderModelOnly",
              "inputs": {"model": ["1", 0], "lora_name": "detail.safetensors", "strength_model": 0.7}},
        "3": {"class_type": "PrimitiveString", "inputs": {"value": "a castle at dusk"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": ["3", 0], "clip": ["9", 0]}},
        "5": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["4", 0], "guidance": 3.5}},
        "6": {"class_type": "BasicGuider", "inputs": {"model": ["2", 0], "conditioning": ["5", 0]}},
        "7": {"class_type": "RandomNoise", "inputs": {"noise_seed": ["8", 0]}},
        "8": {"class_type": "PrimitiveInt", "inputs": {"value": 1234}},
        "10": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "11": {"class_type": "BasicScheduler",
               "inputs": {"model": ["2", 0], "scheduler": "beta", "steps": 28, "denoise": 1.0}},
        "12": {"class_type": "EmptySD3LatentImage",
               "inputs": {"width": 896, "height": 1152, "batch_size": 1}},
        "13": {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["7", 0], "guider": ["6", 0], "sampler": ["10", 0], "sigmas": ["11", 0],
            "latent_image": ["12", 0]}},
        "9": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5", "clip_name2": "l"}},
    }
    info = read_generation_info(_png_with_text({"prompt": json.dumps(graph)}))
    assert info is not None and info.source == "comfyui"
    assert info.prompt == "a castle at dusk"
    assert info.negative_prompt == ""
    assert (info.steps, info.sampler, info.scheduler, info.seed) == (28, "euler", "beta", 1234)
    assert (info.width, info.height) == (896, 1152)
    assert info.model == "flux1-dev.safetensors"
    assert info.params["Loras"] == "detail.safetensors:0.7"


def test_comfyui_hires_second_pass() -> None:
    graph = {
        "c": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}},
        "p": {"class_type": "CLIPTextEncode", "inputs": {"text": "hills", "clip": ["c", 1]}},
        "n": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["c", 1]}},
        "up": {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["s1", 0], "scale_by": 1.5}},
        "s2": {"class_type": "KSampler", "inputs": {
            "seed": 2, "steps": 10, "cfg": 7, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 0.45, "model": ["c", 0], "positive": ["p", 0], "negative": ["n", 0],
            "latent_image": ["up", 0]}},
        "e": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "s1": {"class_type": "KSampler", "inputs": {
            "seed": 1, "steps": 20, "cfg": 7, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0, "model": ["c", 0], "positive": ["p", 0], "negative": ["n", 0],
            "latent_image": ["e", 0]}},
    }
    info = read_generation_info(_png_with_text({"prompt": json.dumps(graph)}))
    assert info is not None
    assert (info.seed, info.steps, info.width, info.height) == (1, 20, 512, 512)
    assert info.params["Hires steps"] == "10"
    assert info.params["Denoising strength"] == "0.45"


def test_utf8_in_text_chunk_is_repaired() -> None:
    mojibake = "テスト, a\nSteps: 1, Sampler: Euler, CFG scale: 2, Seed: 3".encode().decode("latin-1")
    info = read_generation_info(_png_with_text({"parameters": mojibake}))
    assert info is not None and info.prompt == "テスト, a"


def test_comfyui_workflow_only() -> None:
    info = read_generation_info(_png_with_text({"workflow": json.dumps({"nodes": [], "links": []})}))
    assert info is not None and info.source == "comfyui" and info.prompt == ""


# --------------------------------------------------------------------------------------------------
# Bad input never raises
# --------------------------------------------------------------------------------------------------


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    assert read_generation_info(path) is None
    assert read_generation_info(tmp_path / "missing.png") is None


def test_truncated_file_keeps_text_before_image_data(tmp_path: Path) -> None:
    data = _sample("a1111_sdxl.png").read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    info = read_generation_info(path)
    assert info is not None and info.seed == 3782896554
    path.write_bytes(data[:40])
    assert read_generation_info(path) is None


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16"])
def test_image_without_metadata(mode: str) -> None:
    assert read_generation_info(Image.new(mode, (64, 64))) is None


@pytest.mark.parametrize(
    "chunks",
    [
        {"prompt": "{not json"},
        {"workflow": "[1, 2"},
        {"parameters": "{broken"},
        {"parameters": '{"sui_image_params": 5}'},
        {"parameters": '{"version": "Fooocus v2", "prompt": 3, "seed": "x"}'},
        {"invokeai_metadata": "[1,2"},
        {"sd-metadata": '{"image": 3}'},
        {"Dream": "no quotes here"},
        {"Software": "NovelAI", "Comment": "{"},
        {"Software": "NovelAI", "Comment": '{"steps": "many", "scale": [], "seed": {}}'},
        {"prompt": '{"1": {"class_type": "KSampler", "inputs": {"seed": [1], "steps": "x", '
                   '"cfg": null, "sampler_name": 3, "positive": ["1", 0], "latent_image": ["1", 0]}}}'},
        {"prompt": '{"1": null, "2": [], "3": {"inputs": null}}'},
        {"parameters": "Steps: x, Sampler: , CFG scale: y, Seed: z, Size: big"},
    ],
)
def test_garbage_metadata_does_not_raise(chunks: dict[str, str]) -> None:
    info = read_generation_info(_png_with_text(chunks))
    assert info is None or isinstance(info, GenerationInfo)
    if info is not None:
        assert isinstance(info.infotext(), str)
        assert isinstance(info.to_table(), list)


def test_unknown_text_metadata_is_returned_as_is() -> None:
    info = read_generation_info(_png_with_text({"Software": "GIMP 2.10"}))
    assert info is not None
    assert info.source == "unknown"
    assert info.params == {"Software": "GIMP 2.10"}
