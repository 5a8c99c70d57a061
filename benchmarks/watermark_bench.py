"""How much of SDXL's invisible watermark survives what happens to a picture after it is saved.

``python benchmarks/watermark_bench.py [--size 1024] [--pictures 6]`` marks pictures the way
the app marks every saved image (``webui.provenance``: Stability's 48-bit message,
``invisible-watermark``'s dwtDct), puts each through one change, reads the mark back and
prints a markdown table of the bits that still match (of 48; the mark counts as found from
36, Stability's "very likely watermarked"; an unmarked picture matches about half).

Pictures: "textured" ones with a photograph's 1/f spectrum (seeded colour noise), and "flat"
ones (a few plain shapes on gradients: large areas of one colour, where dwtDct is weak).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from webui.imageio import save_with_parameters  # noqa: E402
from webui.provenance import watermark as wm  # noqa: E402

INFOTEXT = "a photo\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 1024x1024"


def textured(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx ** 2 + fy ** 2)
    f[0, 0] = 1.0
    chans = []
    for _ in range(3):
        x = np.fft.irfft2((rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f,
                          (size, size))
        chans.append((x - x.mean()) / x.std())
    a = np.stack(chans, -1) @ rng.uniform(0.3, 1.0, (3, 3))
    a = (a - a.min(axis=(0, 1))) / np.ptp(a, axis=(0, 1))
    return Image.fromarray((a * 235 + 10).astype(np.uint8), "RGB")


def flat(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(1000 + seed)
    x = np.linspace(0, 1, size)[None, :, None]
    y = np.linspace(0, 1, size)[:, None, None]
    c = rng.uniform(0, 255, (2, 2, 3))
    a = c[0, 0] * (1 - x) * (1 - y) + c[0, 1] * x * (1 - y) + c[1, 0] * (1 - x) * y + \
        c[1, 1] * x * y
    img = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(8):
        cx, cy = rng.integers(0, size, 2)
        r = int(rng.integers(size // 20, size // 5))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r],
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return img.filter(ImageFilter.GaussianBlur(2))


def _saved(image: Image.Image, fmt: str) -> Image.Image:
    buf = io.BytesIO()
    save_with_parameters(image, buf, INFOTEXT, fmt)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _pillow(image: Image.Image, **save) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, **save)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _crop(image: Image.Image, box) -> Image.Image:
    w, h = image.size
    return image.crop(tuple(int(round(v * s)) for v, s in zip(box, (w, h, w, h))))


CHANGES = [
    ("PNG (as saved)", lambda im: _saved(im, "png")),
    ("our JPEG (quality 95, 4:4:4)", lambda im: _saved(im, "jpeg")),
    ("our WebP (lossless)", lambda im: _saved(im, "webp")),
    ("JPEG quality 90, 4:4:4", lambda im: _pillow(im, format="JPEG", quality=90,
                                                    subsampling=0)),
    ("default JPEG (quality 75, 4:2:0)", lambda im: _pillow(im, format="JPEG")),
    ("JPEG quality 95, 4:2:0", lambda im: _pillow(im, format="JPEG", quality=95)),
    ("lossy WebP (quality 80, Pillow's default)", lambda im: _pillow(im, format="WEBP")),
    ("resize to 50 %", lambda im: im.resize((im.width // 2, im.height // 2), Image.LANCZOS)),
    ("crop: right and bottom 25 % cut (top-left kept)",
     lambda im: _crop(im, (0, 0, 0.75, 0.75))),
    ("crop: centre 80 %", lambda im: _crop(im, (0.1, 0.1, 0.9, 0.9))),
]


def bits(image: Image.Image) -> int:
    return wm.read_watermark(image).bits_matched


def summary(values: list[int]) -> str:
    found = sum(v >= wm.FOUND_AT for v in values)
    return f"{statistics.median(values):g} ({min(values)}-{max(values)}); " \
           f"found {found}/{len(values)}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1024, help="square picture side (1024)")
    p.add_argument("--pictures", type=int, default=6, help="pictures of each kind (6)")
    a = p.parse_args(argv)
    if wm.available():
        sys.exit(f"cannot run: {wm.available()}")
    kinds = {"textured": [textured(s, a.size) for s in range(a.pictures)],
             "flat": [flat(s, a.size) for s in range(max(1, a.pictures // 2))]}
    results = {name: {k: [] for k in kinds} for name, _ in CHANGES}
    unmarked = {k: [bits(im) for im in pics] for k, pics in kinds.items()}
    embed_times, read_times = [], []
    for kind, pictures in kinds.items():
        for picture in pictures:
            t = time.perf_counter()
            marked = wm.embed_watermark(picture)
            embed_times.append(time.perf_counter() - t)
            for name, change in CHANGES:
                changed = change(marked)
                t = time.perf_counter()
                results[name][kind].append(bits(changed))
                read_times.append(time.perf_counter() - t)
    n_tex, n_flat = len(kinds["textured"]), len(kinds["flat"])
    print(f"| after ({a.size}x{a.size}) | bits of 48, textured pictures ({n_tex}): median "
          f"(min-max) | bits of 48, flat pictures ({n_flat}) |")
    print("| --- | --- | --- |")
    for name, _ in CHANGES:
        print(f"| {name} | {summary(results[name]['textured'])} | "
              f"{summary(results[name]['flat'])} |")
    print(f"| (not marked at all) | {summary(unmarked['textured'])} | "
          f"{summary(unmarked['flat'])} |")
    print()
    print(f"embedding: {statistics.median(embed_times) * 1000:.0f} ms median; reading: "
          f"{statistics.median(read_times) * 1000:.0f} ms median ({a.size}x{a.size}, "
          "one CPU thread of this machine)")


if __name__ == "__main__":
    main()
