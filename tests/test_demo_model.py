"""The demo model's data set, its classifier, and (slow) its training script."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from webui.testing import demo_data as dd


def test_dataset_is_deterministic_per_seed():
    a, sa = dd.make_dataset(16, seed=5)
    b, sb = dd.make_dataset(16, seed=5)
    c, _ = dd.make_dataset(16, seed=6)
    assert a.shape == (16, dd.NATIVE, dd.NATIVE, 3) and a.dtype == np.uint8
    assert sa == sb and np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dataset_covers_every_label_and_never_repeats_the_colour_as_background():
    _, samples = dd.make_dataset(800, seed=0)
    assert {s.shape for s in samples} == set(dd.SHAPES)
    assert {s.colour for s in samples} == set(dd.COLOURS) == {s.background for s in samples}
    assert {s.position for s in samples} == set(dd.POSITIONS)
    assert {s.size for s in samples} == set(dd.SIZES)
    assert all(s.colour != s.background for s in samples)
    assert len(dd.all_samples()) == 4 * 8 * 7 * 5 * 2


def test_caption_wording():
    s = dd.Sample("circle", "red", "blue", "top left", "large")
    assert s.caption == "a large red circle on a blue background, top left"


def test_render_draws_the_shape_where_the_caption_says():
    img = np.asarray(dd.render(dd.Sample("square", "red", "blue", "top left", "large")))
    n = dd.NATIVE
    assert tuple(img[n // 4, n // 4]) == dd.COLOURS["red"]  # inside the square
    assert tuple(img[3 * n // 4, 3 * n // 4]) == dd.COLOURS["blue"]  # far corner: background
    assert tuple(img[1, n - 1]) == dd.COLOURS["blue"]


def _accuracy(images, samples) -> dict[str, float]:
    hits = {f: 0 for f in dd.Reading._fields}
    for im, s in zip(images, samples):
        got, want = dd.classify(im), dd.expected(s)
        for f in hits:
            hits[f] += getattr(got, f) == getattr(want, f)
    return {f: h / len(samples) for f, h in hits.items()}


def test_classifier_reads_clean_pictures():
    images, samples = dd.make_dataset(300, seed=11)
    acc = _accuracy(images, samples)
    assert min(acc.values()) >= 0.99, acc


def _noisy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


def _blurred(img: np.ndarray, _rng) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(1.5)))


def _jpeg(img: np.ndarray, _rng) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=40)
    return np.asarray(Image.open(buf).convert("RGB"))


def _tinted(img: np.ndarray, _rng) -> np.ndarray:
    # a washed-out decode: colours pulled 20% towards grey
    return np.round(img * 0.8 + 128 * 0.2).astype(np.uint8)


@pytest.mark.parametrize("perturb", [_noisy, _blurred, _jpeg, _tinted])
def test_classifier_survives_perturbed_pictures(perturb):
    images, samples = dd.make_dataset(80, seed=12)
    rng = np.random.default_rng(0)
    acc = _accuracy(np.stack([perturb(im, rng) for im in images]), samples)
    assert min(acc.values()) >= 0.9, acc


def test_classifier_accepts_pil_images_of_other_sizes():
    s = dd.Sample("triangle", "yellow", "purple", "bottom right", "large")
    for size in (64, 256):
        assert dd.classify(dd.render(s, size=size)) == dd.expected(s)


def test_classifier_is_not_fooled_by_a_wrong_label():
    # a real failure case must read as one: a green star is not a red circle
    s = dd.Sample("star", "green", "white", "center", "large")
    got = dd.classify(dd.render(s, random.Random(0)))
    assert got.colour == "green" and got.shape == "star"
    assert got != dd.Reading("red", "white", "circle", "center")


# --- the training script (a few steps: it must write a folder both loaders accept) ---------


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    from webui.testing import demo_model as dm

    models = tmp_path_factory.mktemp("demo-models")
    out = models / "Stable-diffusion" / "sdxl-demo-shapes"
    cfg = dm.TrainConfig(seed=3, vae_steps=2, unet_steps=3, vae_images=32, unet_images=64,
                         vae_batch=4, unet_batch=8, vae_whole_steps=1, vae_whole_batch=2,
                         threads=1)
    report = dm.train(out, cfg)
    return models, out, report


@pytest.mark.slow  # trains a few steps: ~20 s of setup on a shared 2-core CPU
def test_train_writes_a_diffusers_sdxl_folder(smoke_model):
    import json

    from diffusers import StableDiffusionXLPipeline

    _, out, report = smoke_model
    assert report["vae_steps"] == 2 and report["unet_steps"] == 3
    assert json.loads((out / "training.json").read_text())["config"]["seed"] == 3
    pipe = StableDiffusionXLPipeline.from_pretrained(str(out), local_files_only=True)
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert pipe.unet.config.sample_size == dd.NATIVE // 8
    assert len(pipe.vae.config.block_out_channels) == 4  # 8x downsampling
    # the scaling factor was measured on the data's latents, not copied from SDXL
    assert pipe.vae.config.scaling_factor == pytest.approx(report["scaling_factor"])
    assert pipe.vae.config.scaling_factor != 0.13025
    # the real CLIP vocabulary: every word of the captions is one token
    for word in (*dd.SHAPES, *dd.COLOURS, *dd.SIZES, "background", "top", "left", "center"):
        assert len(pipe.tokenizer(word).input_ids) == 3, word


@pytest.mark.slow  # trains a few steps: ~20 s of setup on a shared 2-core CPU
def test_training_is_deterministic_per_seed(smoke_model, tmp_path):
    from safetensors.torch import load_file

    from webui.testing import demo_model as dm

    _, out, _ = smoke_model
    cfg = dm.TrainConfig(seed=3, vae_steps=2, unet_steps=3, vae_images=32, unet_images=64,
                         vae_batch=4, unet_batch=8, vae_whole_steps=1, vae_whole_batch=2,
                         threads=1)
    dm.train(tmp_path / "again", cfg)
    for part in ("unet", "vae", "text_encoder_2"):
        a, b = (load_file(next((root / part).glob("*.safetensors")))
                for root in (out, tmp_path / "again"))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), part


@pytest.mark.slow  # trains a few steps: ~20 s of setup on a shared 2-core CPU
def test_encode_matches_the_sdxl_pipeline(smoke_model):
    """Training must see the embeddings generation will use."""
    from diffusers import StableDiffusionXLPipeline

    from webui.testing import demo_model as dm

    _, out, _ = smoke_model
    pipe = StableDiffusionXLPipeline.from_pretrained(str(out), local_files_only=True)
    text = "a small green star on a white background, bottom right"
    ids, ids2 = dm._token_ids(pipe.tokenizer, [text]), dm._token_ids(pipe.tokenizer_2, [text])
    with torch.no_grad():
        mine, pooled = dm.encode(pipe, ids, ids2)
        ref, _, ref_pooled, _ = pipe.encode_prompt(text, do_classifier_free_guidance=False)
    assert torch.allclose(mine, ref, atol=1e-5) and torch.allclose(pooled, ref_pooled,
                                                                   atol=1e-5)


@pytest.mark.slow  # trains a few steps: ~20 s of setup on a shared 2-core CPU
def test_the_app_runs_the_demo_model(smoke_model):
    from tests.helpers import small_request
    from webui.engine import run
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    models, _, _ = smoke_model
    manager = ModelManager(ModelRegistry(models / "Stable-diffusion"), device="cpu")
    result = run(manager, small_request(model="sdxl-demo-shapes", prompt="a red circle",
                                        width=dd.NATIVE, height=dd.NATIVE))
    assert result.images[0].image.size == (dd.NATIVE, dd.NATIVE)


def test_partial_captions_keep_words_of_the_sample():
    from webui.testing.demo_model import partial_caption

    s = dd.Sample("triangle", "orange", "black", "top right", "small")
    rng = random.Random(0)
    texts = [partial_caption(s, rng) for _ in range(200)]
    assert {"orange" in t or "triangle" in t for t in texts} == {True}
    words = set(" ".join(texts).replace(",", "").split())
    assert words <= {"a", "on", "background", *s.size.split(), s.colour, s.shape,
                     s.background, *s.position.split()}
    assert len(set(texts)) > 10


@pytest.mark.slow
def test_export_fp16_halves_the_weights_and_still_loads(smoke_model, tmp_path):
    from diffusers import StableDiffusionXLPipeline
    from safetensors.torch import load_file

    from webui.testing.demo_model import export_fp16

    _, out, _ = smoke_model
    half = export_fp16(out, tmp_path / "half")
    unet = load_file(half / "unet" / "diffusion_pytorch_model.safetensors")
    assert {v.dtype for v in unet.values()} == {torch.float16}
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*.safetensors"))  # noqa: E731
    assert size(half) < 0.51 * size(out)
    pipe = StableDiffusionXLPipeline.from_pretrained(str(half), local_files_only=True)
    assert pipe.unet.config.addition_embed_type == "text_time"


# --- the shipped model: installed into a models folder, used by a hosted demo -------------


def test_shipped_weights_are_small_safetensors_with_their_seed():
    import json

    from webui.testing.demo_model import SHIPPED

    files = list(SHIPPED.rglob("*"))
    weights = [f for f in files if f.suffix == ".safetensors"]
    assert len(weights) == 4  # unet, vae, both text encoders
    assert not [f for f in files if f.suffix in {".bin", ".ckpt", ".pt", ".pth"}]
    assert sum(f.stat().st_size for f in weights) <= 25 * 2**20
    report = json.loads((SHIPPED / "training.json").read_text())
    assert report["config"]["seed"] == 0 and report["config"]["unet_steps"] > 0


def test_install_puts_a_diffusers_folder_the_registry_finds(tmp_path):
    from webui.models.registry import ModelRegistry
    from webui.testing.demo_model import NAME, SHIPPED, install

    target = install(tmp_path)
    assert target == tmp_path / "Stable-diffusion" / NAME
    assert (target / "model_index.json").read_bytes() == (SHIPPED / "model_index.json"
                                                            ).read_bytes()
    info, = ModelRegistry(tmp_path / "Stable-diffusion").scan()
    assert (info.name, info.format) == (NAME, "diffusers")
    # a second install leaves the copy alone; an interrupted one (no model_index.json yet)
    # is not a model, and the next install completes it
    stamp = (target / "unet" / "config.json").stat().st_mtime_ns
    install(tmp_path)
    assert (target / "unet" / "config.json").stat().st_mtime_ns == stamp
    (target / "model_index.json").unlink()
    assert ModelRegistry(tmp_path / "Stable-diffusion").scan() == []
    install(tmp_path)
    assert [m.name for m in ModelRegistry(tmp_path / "Stable-diffusion").scan()] == [NAME]


def test_a_hosted_demo_without_weights_offers_the_demo_model(tmp_path):
    from webui.app import create_context
    from webui.config import Settings

    ctx = create_context(Settings(models_dir=tmp_path / "models", outputs_dir=tmp_path / "o",
                                  data_dir=tmp_path / "d", device="cpu", demo=True))
    assert ctx.manager.checkpoint_names() == ["sdxl-demo-shapes"]
    assert ctx.checkpoint.current() == "sdxl-demo-shapes"
    # outside demo mode an empty models folder stays empty (the README says how to install)
    plain = create_context(Settings(models_dir=tmp_path / "m2", outputs_dir=tmp_path / "o2",
                                    data_dir=tmp_path / "d2", device="cpu"))
    assert plain.manager.checkpoint_names() == []
