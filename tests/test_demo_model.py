"""The demo model's data set, its classifier, and (slow) its training script."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
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
    assert tuple(img[16, 16]) == dd.COLOURS["red"]  # inside the square
    assert tuple(img[48, 48]) == dd.COLOURS["blue"]  # far corner: background
    assert tuple(img[1, 63]) == dd.COLOURS["blue"]


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
    img = dd.render(s, size=128)
    assert dd.classify(img) == dd.expected(s)


def test_classifier_is_not_fooled_by_a_wrong_label():
    # a real failure case must read as one: a green star is not a red circle
    s = dd.Sample("star", "green", "white", "center", "large")
    got = dd.classify(dd.render(s, random.Random(0)))
    assert got.colour == "green" and got.shape == "star"
    assert got != dd.Reading("red", "white", "circle", "center")
