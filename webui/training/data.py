"""Training images as SDXL sees them: bucketed to SDXL's aspect ratios at the training
resolution, centre-cropped, with the original size and crop corner that SDXL's ``text_time``
micro-conditioning takes (time ids = original size, crop top-left, target size, each (h, w)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from webui.request import SIZE_PRESETS

#: the pixel count SDXL's aspect-ratio presets are made for (each is about 1024 x 1024)
SDXL_AREA_SIDE = 1024


@dataclass(frozen=True)
class Example:
    """One training picture, ready for the VAE."""

    pixels: torch.Tensor  # (3, h, w) in [-1, 1]
    caption: str
    original_size: tuple[int, int]  # (h, w) of the uploaded picture
    crop_top_left: tuple[int, int]  # (top, left) of the crop in the resized picture
    target_size: tuple[int, int]  # (h, w) of the bucket

    @property
    def time_ids(self) -> list[int]:
        return [*self.original_size, *self.crop_top_left, *self.target_size]


def buckets(resolution: int, multiple: int = 64) -> list[tuple[int, int]]:
    """SDXL's aspect-ratio sizes (``SIZE_PRESETS``, width x height) scaled to
    ``resolution``'s area, each side a multiple of ``multiple`` (at least one multiple);
    the same bucket twice is kept once."""
    scale = resolution / SDXL_AREA_SIDE
    out: list[tuple[int, int]] = []
    for w, h in SIZE_PRESETS:
        size = (max(multiple, round(w * scale / multiple) * multiple),
                max(multiple, round(h * scale / multiple) * multiple))
        if size not in out:
            out.append(size)
    return out


def nearest_bucket(width: int, height: int, sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The bucket whose aspect ratio is closest to ``width / height`` (in log ratio, so 2:1
    and 1:2 are equally far from square)."""
    ratio = np.log(width / height)
    return min(sizes, key=lambda s: (abs(np.log(s[0] / s[1]) - ratio), -s[0] * s[1]))


def fit(image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int]]:
    """``image`` scaled to cover ``size`` (w, h) and centre-cropped to it; also the crop's
    (top, left) in the scaled picture."""
    w, h = size
    scale = max(w / image.width, h / image.height)
    rw, rh = max(w, round(image.width * scale)), max(h, round(image.height * scale))
    resized = image.resize((rw, rh), Image.Resampling.LANCZOS)
    top, left = (rh - h) // 2, (rw - w) // 2
    return resized.crop((left, top, left + w, top + h)), (top, left)


def make_examples(images, captions, resolution: int, multiple: int = 64) -> list[Example]:
    """One ``Example`` per (RGB image, caption), each in its nearest bucket."""
    sizes = buckets(resolution, multiple)
    out = []
    for image, caption in zip(images, captions):
        size = nearest_bucket(image.width, image.height, sizes)
        cropped, corner = fit(image.convert("RGB"), size)
        arr = np.asarray(cropped, dtype=np.float32) / 127.5 - 1.0
        out.append(Example(torch.from_numpy(arr).permute(2, 0, 1).contiguous(), caption,
                           (image.height, image.width), corner, (size[1], size[0])))
    return out


def batch_order(bucket_of: list[tuple[int, int]], batch_size: int, seed: int, epoch: int
                ) -> list[list[int]]:
    """The batches of one epoch: example indices shuffled from (seed, epoch), grouped by
    bucket (a batch holds one size), the batches themselves shuffled too. A function of its
    arguments only, so a resumed run sees the same batches as an uninterrupted one."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(bucket_of), generator=gen).tolist()
    groups: dict[tuple[int, int], list[int]] = {}
    for i in order:
        groups.setdefault(bucket_of[i], []).append(i)
    batches = [g[k:k + batch_size] for g in groups.values() for k in range(0, len(g), batch_size)]
    perm = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in perm]
