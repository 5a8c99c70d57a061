"""SDXL aspect-ratio buckets, centre crops and the text_time micro-conditioning they record."""

from __future__ import annotations

from PIL import Image

from webui.request import SIZE_PRESETS
from webui.training.data import batch_order, buckets, make_examples, nearest_bucket


def test_buckets_are_sdxl_ratios_at_the_resolution():
    assert buckets(1024) == SIZE_PRESETS  # SDXL's own sizes at 1024
    small = buckets(512, multiple=32)
    assert (512, 512) in small and all(w % 32 == 0 and h % 32 == 0 for w, h in small)
    assert all(abs(w * h - 512 * 512) / (512 * 512) < 0.15 for w, h in small)


def test_nearest_bucket_follows_the_aspect_ratio():
    sizes = buckets(1024)
    assert nearest_bucket(3000, 2000, sizes) == (1216, 832)
    assert nearest_bucket(2000, 3000, sizes) == (832, 1216)
    assert nearest_bucket(500, 500, sizes) == (1024, 1024)
    assert nearest_bucket(4000, 1000, sizes) == (1536, 640)


def test_examples_record_original_size_crop_and_target():
    wide = Image.new("RGB", (300, 100), (200, 10, 10))
    square = Image.new("RGB", (90, 90), (10, 200, 10))
    ex = make_examples([wide, square], ["a", "b"], resolution=128, multiple=16)
    w = ex[0]
    th, tw = w.target_size
    assert tw > th and tuple(w.pixels.shape) == (3, th, tw)
    assert w.original_size == (100, 300)
    top, left = w.crop_top_left
    assert top == 0 and left > 0  # a wide picture loses its sides, centred
    assert w.time_ids == [100, 300, top, left, th, tw]
    s = ex[1]
    assert s.target_size == (128, 128) and s.crop_top_left == (0, 0)
    assert float(w.pixels.min()) >= -1 and float(w.pixels.max()) <= 1
    assert abs(float(w.pixels[0].mean()) - (200 / 127.5 - 1)) < 0.02


def test_batches_hold_one_size_and_depend_only_on_seed_and_epoch():
    sizes = [(64, 64), (64, 96), (64, 64), (64, 96), (64, 64)]
    a = batch_order(sizes, 2, seed=3, epoch=1)
    assert a == batch_order(sizes, 2, seed=3, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(5))
    assert all(len({sizes[i] for i in b}) == 1 for b in a)
    assert any(batch_order(sizes, 2, seed=3, epoch=e) != a for e in (2, 3, 4))
