"""The demo model's synthetic data set and the classifier that reads its pictures back.

Pictures are one plain shape (circle, square, triangle, star) of one named colour on a plain
background of another, at one of five positions and two sizes, ``NATIVE`` px square, with a
caption such as "a large red circle on a blue background, top left". Everything is drawn
from a seed, so the same seed gives the same pictures byte for byte.

``classify(image)`` reads (shape colour, background colour, shape, position) back from a
picture by colour clustering and template fitting; the demo benchmark and semantic tests use
it to check that generated pictures follow their prompts.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

NATIVE = 128  # px; latents are NATIVE // 8 = 16 square

#: named colours (sRGB); far enough apart that a blurry decode still reads as one of them
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 50, 180),
    "orange": (245, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle", "star")
#: position name -> centre as a fraction of the picture side
POSITIONS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "top left": (0.25, 0.25),
    "top right": (0.75, 0.25),
    "bottom left": (0.25, 0.75),
    "bottom right": (0.75, 0.75),
}
#: size name -> half the side of the shape's bounding box, as a fraction of the picture side
SIZES: dict[str, float] = {"small": 0.14, "large": 0.22}

_SUPERSAMPLE = 4  # draw at 4x and box-filter down: anti-aliased edges, still deterministic


@dataclass(frozen=True)
class Sample:
    """One picture's labels; ``caption`` is what the model is trained to follow."""

    shape: str
    colour: str
    background: str
    position: str
    size: str

    @property
    def caption(self) -> str:
        return caption(self.shape, self.colour, self.background, self.position, self.size)


def caption(shape: str, colour: str, background: str, position: str, size: str) -> str:
    """The caption template the model is trained on."""
    return f"a {size} {colour} {shape} on a {background} background, {position}"


def all_samples() -> list[Sample]:
    """Every label combination (4 shapes x 8 colours x 7 backgrounds x 5 positions x 2 sizes)."""
    return [Sample(s, c, b, p, z)
            for s, c, b, p, z in itertools.product(SHAPES, COLOURS, COLOURS, POSITIONS, SIZES)
            if b != c]


def random_sample(rng: random.Random) -> Sample:
    """One label set drawn from ``rng`` (uniform over all combinations)."""
    colour, background = rng.sample(list(COLOURS), 2)
    return Sample(rng.choice(SHAPES), colour, background, rng.choice(list(POSITIONS)),
                  rng.choice(list(SIZES)))


def _outline(shape: str, cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    """Polygon points of ``shape`` filling the box of side ``2*half`` centred on (cx, cy)."""
    if shape == "square":
        return [(cx - half, cy - half), (cx + half, cy - half),
                (cx + half, cy + half), (cx - half, cy + half)]
    if shape == "triangle":  # pointing up, filling its box
        return [(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)]
    if shape == "star":  # five points, scaled so its bounding box is the box
        pts = []
        for i in range(10):
            r = 1.0 if i % 2 == 0 else 0.45
            a = -np.pi / 2 + i * np.pi / 5
            pts.append((r * np.cos(a), r * np.sin(a)))
        xs, ys = zip(*pts)
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        return [(cx + (x - (x0 + x1) / 2) * 2 * half / (x1 - x0),
                 cy + (y - (y0 + y1) / 2) * 2 * half / (y1 - y0)) for x, y in pts]
    raise ValueError(f"no outline for {shape!r}")


def shape_mask(shape: str, cx: float, cy: float, half: float, size: int = NATIVE) -> np.ndarray:
    """Coverage (0..1, float32, ``size`` square) of ``shape`` in the box centred on (cx, cy)."""
    k = _SUPERSAMPLE
    canvas = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(canvas)
    if shape == "circle":
        draw.ellipse([(cx - half) * k, (cy - half) * k, (cx + half) * k - 1,
                      (cy + half) * k - 1], fill=255)
    else:
        draw.polygon([(x * k, y * k) for x, y in _outline(shape, cx, cy, half)], fill=255)
    arr = np.asarray(canvas, dtype=np.float32) / 255.0
    return arr.reshape(size, k, size, k).mean(axis=(1, 3))


def render(sample: Sample, rng: random.Random | None = None, size: int = NATIVE) -> Image.Image:
    """Draw ``sample``; with ``rng``, jitter its position (±2 px) and colours (±8) a little,
    so the model learns the named colour and place, not one exact pixel value."""
    fx, fy = POSITIONS[sample.position]
    cx, cy, half = fx * size, fy * size, SIZES[sample.size] * size
    fg = np.array(COLOURS[sample.colour], dtype=np.float32)
    bg = np.array(COLOURS[sample.background], dtype=np.float32)
    if rng is not None:
        cx += rng.uniform(-2, 2) * size / NATIVE
        cy += rng.uniform(-2, 2) * size / NATIVE
        fg = np.clip(fg + [rng.uniform(-8, 8) for _ in range(3)], 0, 255)
        bg = np.clip(bg + [rng.uniform(-8, 8) for _ in range(3)], 0, 255)
    cover = shape_mask(sample.shape, cx, cy, half, size)[..., None]
    pixels = cover * fg + (1 - cover) * bg
    return Image.fromarray(np.round(pixels).astype(np.uint8), "RGB")


def make_dataset(n: int, seed: int = 0, jitter: bool = True
                 ) -> tuple[np.ndarray, list[Sample]]:
    """``n`` pictures (uint8 array N x H x W x 3) and their samples, all drawn from ``seed``."""
    rng = random.Random(seed)
    samples = [random_sample(rng) for _ in range(n)]
    images = np.stack([np.asarray(render(s, rng if jitter else None)) for s in samples])
    return images, samples


# --- the classifier -------------------------------------------------------------------


class Reading(NamedTuple):
    """What ``classify`` reads from a picture."""

    colour: str
    background: str
    shape: str
    position: str


_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[c] for c in _NAMES], dtype=np.float32)


def nearest_colour(rgb) -> str:
    """The named colour nearest to ``rgb`` (Euclidean in sRGB)."""
    d = ((_PALETTE - np.asarray(rgb, dtype=np.float32)) ** 2).sum(axis=1)
    return _NAMES[int(d.argmin())]


def _as_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
        if image.size != (NATIVE, NATIVE):
            image = image.resize((NATIVE, NATIVE), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)[..., :3]


def _shape_region(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(background rgb, shape rgb, boolean mask of the shape) by two-colour clustering."""
    h, w, _ = arr.shape
    border = np.concatenate([arr[:2].reshape(-1, 3), arr[-2:].reshape(-1, 3),
                             arr[:, :2].reshape(-1, 3), arr[:, -2:].reshape(-1, 3)])
    bg = np.median(border, axis=0)
    dist_bg = np.sqrt(((arr - bg) ** 2).sum(-1))
    # the shape's colour: the median of the pixels most unlike the background
    far = dist_bg >= np.quantile(dist_bg, 0.992)
    fg = np.median(arr[far], axis=0)
    dist_fg = np.sqrt(((arr - fg) ** 2).sum(-1))
    mask = dist_fg < dist_bg
    # refine both colours on the split, so an edge-heavy small shape reads its true colour
    if mask.any() and (~mask).any():
        core = mask & (dist_fg < 0.5 * dist_bg)
        fg = np.median(arr[core if core.sum() >= 4 else mask], axis=0)
        bg = np.median(arr[~mask], axis=0)
        mask = ((arr - fg) ** 2).sum(-1) < ((arr - bg) ** 2).sum(-1)
    return bg, fg, _largest_component(mask)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 4-connected blob: stray speckles should not move the box."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    return labels == (1 + int(np.argmax(sizes)))


def _fit_shape(arr: np.ndarray, bg: np.ndarray, fg: np.ndarray, mask: np.ndarray
               ) -> tuple[str, float, float]:
    """(shape, box centre x, box centre y): the template, fitted to the blob's bounding box,
    closest to the picture's soft coverage. Templates are also tried blurred and a little
    larger, since a generated (decoded) picture has soft edges that shrink thin star tips."""
    from scipy import ndimage

    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return "circle", NATIVE / 2, NATIVE / 2
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) / 2
    size = mask.shape[0]
    # coverage of each pixel by the shape: its position on the background -> shape line
    axis = fg - bg
    cover = np.clip(((arr - bg) * axis).sum(-1) / max(1e-6, float((axis ** 2).sum())), 0, 1)
    cover = np.where(_dilate(mask, 3), cover, 0.0)
    best, best_err = "circle", np.inf
    for shape in SHAPES:
        for scale in (1.0, 1.1):
            tmpl = shape_mask(shape, cx, cy, half * scale, size)
            for sigma in (0.0, 1.0, 2.0):
                t = ndimage.gaussian_filter(tmpl, sigma) if sigma else tmpl
                err = float(np.abs(t - cover).sum())
                if err < best_err:
                    best, best_err = shape, err
    return best, cx, cy


def _dilate(mask: np.ndarray, n: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=n)


def classify(image) -> Reading:
    """Read (shape colour, background colour, shape, position) from a picture (PIL image or
    H x W x 3 array; other sizes are resized to ``NATIVE``)."""
    arr = _as_array(image)
    bg, fg, mask = _shape_region(arr)
    shape, cx, cy = _fit_shape(arr, bg, fg, mask)
    h, w = mask.shape
    position = min(POSITIONS, key=lambda p: (POSITIONS[p][0] * w - cx) ** 2
                   + (POSITIONS[p][1] * h - cy) ** 2)
    return Reading(nearest_colour(fg), nearest_colour(bg), shape, position)


def expected(sample: Sample) -> Reading:
    """The reading a picture of ``sample`` should give."""
    return Reading(sample.colour, sample.background, sample.shape, sample.position)
