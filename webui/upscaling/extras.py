"""Extras jobs: upscale one picture or several, as A1111's Extras tab and its
``/sdapi/v1/extra-single-image`` and ``extra-batch-images`` routes do.

``ExtrasRequest`` holds A1111's fields (scale by or scale to a size with crop, upscaler 1,
upscaler 2 blended in by its visibility, tile size and overlap). ``ExtrasService.run``
checks everything first (a bad request writes nothing), then upscales in its turn on the
device queue that generation uses, then saves each result to
``<outputs>/extras-images/YYYY-MM-DD/00001-<name>.png`` with A1111's ``postprocessing`` and
``extras`` text chunks (and the picture's own ``parameters`` kept), and answers the pictures
and A1111's ``html_info``.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from webui.errors import RequestError
from webui.metadata.infotext import quote
from webui.upscaling.registry import UpscalerRegistry

log = logging.getLogger(__name__)

#: largest scale factor (A1111's Resize slider goes to 8)
MAX_SCALE = 8.0
#: largest side of a result (A1111's Width/Height sliders go to 8192)
MAX_OUTPUT_SIDE = 8192
#: the most pictures one batch takes
MAX_BATCH = 64
#: largest tile side and overlap
MAX_TILE = 4096
MAX_OVERLAP = 256
FOLDER = "extras-images"
_NUMBERED = re.compile(r"^(\d{5})")


@dataclass
class ExtrasRequest:
    """What to upscale and how (A1111's Extras fields).

    images: (picture, name) pairs; name is the original file name or None.
    resize_mode: 0 = scale by ``scale``; 1 = scale to ``width`` x ``height`` (the picture is
    made large enough to cover the size and, with ``crop``, cut to it around its centre).
    """

    images: list[tuple[Image.Image, str | None]]
    resize_mode: int = 0
    scale: float = 2.0
    width: int = 512
    height: int = 512
    crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    upscaler_2_visibility: float = 0.0
    tile: int | None = None  # None: the registry's (A1111's ESRGAN_tile); 0: no tiling
    overlap: int | None = None


@dataclass
class ExtrasResult:
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    @property
    def html_info(self) -> str:
        """A1111's ``html_info``: the last picture's infotext as an HTML paragraph."""
        return plaintext_to_html(self.infotexts[-1] if self.infotexts else "")


def plaintext_to_html(text: str) -> str:
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


def _number(name: str, value, low: float, high: float, whole: bool = False):
    if isinstance(value, bool) or value is None:
        raise RequestError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a number, got {value!r}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise RequestError(f"{name} must be a number, got {value!r}")
    if whole:
        if not out.is_integer():
            raise RequestError(f"{name} must be a whole number, got {value!r}")
        out = int(out)
    if not low <= out <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}, got {out:g}")
    return out


def printable(name) -> str | None:
    """A file name as it can be shown and answered in JSON (lone surrogates escaped)."""
    if name is None:
        return None
    return str(name).encode("utf-8", "backslashreplace").decode("utf-8")


def target_size(image: Image.Image, req: ExtrasRequest) -> tuple[int, int]:
    """The size the upscaler makes (before a crop to ``width`` x ``height``)."""
    if req.resize_mode == 1:
        factor = max(req.width / image.width, req.height / image.height)
    else:
        factor = req.scale
    return max(1, round(image.width * factor)), max(1, round(image.height * factor))


def validate_extras(req: ExtrasRequest, registry: UpscalerRegistry,
                    max_input_pixels: int) -> ExtrasRequest:
    """Check ``req`` and return it normalised (names as listed, numbers typed, RGB
    pictures); ``RequestError`` with a plain message for the first thing wrong."""
    if not req.images:
        raise RequestError("no image to upscale: add an image (or several)")
    if len(req.images) > MAX_BATCH:
        raise RequestError(f"at most {MAX_BATCH} images a batch, got {len(req.images)}")
    mode = req.resize_mode
    if isinstance(mode, bool) or mode not in (0, 1):
        raise RequestError(f"resize_mode must be 0 (scale by) or 1 (scale to a size), "
                           f"got {mode!r}")
    scale = _number("upscaling_resize (scale)", req.scale, 0, MAX_SCALE)
    if mode == 0 and scale <= 0:
        raise RequestError("upscaling_resize (scale) must be above 0")
    width = _number("upscaling_resize_w (width)", req.width, 1, MAX_OUTPUT_SIDE, True)
    height = _number("upscaling_resize_h (height)", req.height, 1, MAX_OUTPUT_SIDE, True)
    visibility = _number("upscaler 2 visibility", req.upscaler_2_visibility, 0, 1)
    tile = None if req.tile is None else _number("tile size", req.tile, 0, MAX_TILE, True)
    if tile is not None and 0 < tile < 16:
        raise RequestError(f"tile size must be 0 (no tiling) or at least 16, got {tile}")
    overlap = None if req.overlap is None else _number("tile overlap", req.overlap, 0,
                                                       MAX_OVERLAP, True)
    names = []
    for field_name, value in (("upscaler_1", req.upscaler_1), ("upscaler_2", req.upscaler_2)):
        value = "None" if value is None else value
        if not isinstance(value, str):
            raise RequestError(f"{field_name} must be an upscaler's name, got {value!r}")
        try:
            names.append(registry.canonical(value))
        except RequestError as exc:
            raise RequestError(f"{field_name}: {exc}") from None
    images = []
    for i, item in enumerate(req.images):
        image, name = item if isinstance(item, tuple) else (item, None)
        name = printable(name)
        what = f"image {i + 1}" + (f" ({name})" if name else "")
        if not isinstance(image, Image.Image):
            raise RequestError(f"{what} is not a picture")
        if image.width * image.height > max_input_pixels:
            raise RequestError(
                f"{what} is {image.width}x{image.height} = {image.width * image.height} "
                f"pixels, above the limit of {max_input_pixels} (--max-image-pixels)")
        out = ExtrasRequest([], mode, scale, width, height, bool(req.crop))
        w, h = target_size(image, out)
        if names[0] != "None" and (max(w, h) > MAX_OUTPUT_SIDE
                                   or w * h > 4 * max_input_pixels):
            raise RequestError(
                f"{what}: the result would be {w}x{h}, above the limit of "
                f"{MAX_OUTPUT_SIDE} pixels a side and {4 * max_input_pixels} pixels in all")
        images.append((image, name))
    return ExtrasRequest(images, mode, scale, width, height, bool(req.crop), names[0],
                         names[1], visibility, tile, overlap)


def upscale_one(image: Image.Image, req: ExtrasRequest,
                registry: UpscalerRegistry) -> tuple[Image.Image, dict[str, str]]:
    """One picture of a validated request, and A1111's ``Postprocess ...`` fields."""
    image = image.convert("RGB")
    info: dict[str, str] = {}
    if req.upscaler_1 == "None":  # A1111: upscaler 1 "None" leaves the picture as it is
        return image, info
    size = target_size(image, req)
    if req.resize_mode == 1:
        info["Postprocess upscale to"] = f"{req.width}x{req.height}"
    else:
        info["Postprocess upscale by"] = f"{req.scale:g}"
    if req.resize_mode == 1 and req.crop:
        info["Postprocess crop to"] = f"{req.width}x{req.height}"

    def run(name: str) -> Image.Image:
        out = registry.upscale(name, image, size, tile=req.tile, overlap=req.overlap)
        if req.resize_mode == 1 and req.crop:
            cropped = Image.new("RGB", (req.width, req.height))
            cropped.paste(out, (req.width // 2 - out.width // 2,
                                req.height // 2 - out.height // 2))
            out = cropped
        return out

    result = run(req.upscaler_1)
    info["Postprocess upscaler"] = req.upscaler_1
    if req.upscaler_2 != "None" and req.upscaler_2_visibility > 0:
        second = run(req.upscaler_2)
        result = Image.blend(result, second, req.upscaler_2_visibility)
        info["Postprocess upscaler 2"] = req.upscaler_2
    return result, info


def infotext_of(info: dict[str, str]) -> str:
    """``Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+`` (A1111's line)."""
    return ", ".join(f"{k}: {quote(str(v))}" for k, v in info.items())


def safe_stem(name: str | None) -> str:
    """A file stem from an uploaded file's name: no folders, no odd characters."""
    if not name:
        return ""
    stem = Path(str(name).replace("\\", "/")).stem
    stem = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE).strip("._")
    return stem[:80]


class ExtrasService:
    """Runs Extras jobs on the shared device queue and saves their results."""

    def __init__(self, registry: UpscalerRegistry, queue, outputs_dir: Path,
                 max_input_pixels: int, rate_limiter=None):
        self.registry = registry
        self.queue = queue
        self.outputs_dir = Path(outputs_dir)
        self.max_input_pixels = max_input_pixels
        self.rate_limiter = rate_limiter
        self._write_lock = threading.Lock()
        # webui.provenance.Provenance (set by the app): the watermark and labels saved
        # pictures carry; None writes plain PNGs
        self.provenance = None

    def validate(self, req: ExtrasRequest) -> ExtrasRequest:
        return validate_extras(req, self.registry, self.max_input_pixels)

    def run(self, req: ExtrasRequest, job_key: str = "local", save: bool = True,
            on_wait=None) -> ExtrasResult:
        """Check ``req`` (``RequestError``: nothing is run or written), upscale each picture
        in one turn on the device, then save the results (``save``)."""
        req = self.validate(req)
        if self.rate_limiter is not None:
            self.rate_limiter.take(job_key)
        result = ExtrasResult()
        infos = []
        with self.queue.turn(job_key, on_wait=on_wait):
            for image, _name in req.images:
                out, info = upscale_one(image, req, self.registry)
                result.images.append(out)
                infos.append(info)
        result.infotexts = [infotext_of(info) for info in infos]
        if save:
            result.paths = self._save(req, result)
        log.info("extras: %d image(s) with %s%s", len(result.images), req.upscaler_1,
                 f" + {req.upscaler_2}" if req.upscaler_2 != "None" else "")
        return result

    def folder(self, when: datetime | None = None) -> Path:
        return self.outputs_dir / FOLDER / (when or datetime.now()).strftime("%Y-%m-%d")

    def _save(self, req: ExtrasRequest, result: ExtrasResult) -> list[Path]:
        folder = self.folder()
        paths = []
        with self._write_lock:
            folder.mkdir(parents=True, exist_ok=True)
            number = 1 + max((int(m.group(1)) for p in folder.iterdir()
                              if (m := _NUMBERED.match(p.name))), default=0)
            for i, ((source, name), image, text) in enumerate(zip(req.images, result.images,
                                                                  result.infotexts)):
                stem = safe_stem(name)
                final = folder / (f"{number:05d}-{stem}.png" if stem else f"{number:05d}.png")
                number += 1
                meta = PngInfo()
                params = source.info.get("parameters") if hasattr(source, "info") else None
                if isinstance(params, str) and params:
                    meta.add_text("parameters", params)
                if text:
                    meta.add_text("postprocessing", text)
                    meta.add_text("extras", text)
                # written beside the history's staged files: a crash's leftover is swept at
                # the next start (HistoryStore.reconcile), never shown as a picture
                staging = self.outputs_dir / ".staging"
                staging.mkdir(parents=True, exist_ok=True)
                tmp = staging / f"extras-{uuid.uuid4().hex}.tmp"
                try:
                    with open(tmp, "wb") as fh:
                        if self.provenance is None:
                            image.save(fh, format="PNG", pnginfo=meta)
                        else:  # watermark and labels, as every saved picture (provenance)
                            texts = {k: v for k, v in (("parameters", params),
                                                       ("postprocessing", text),
                                                       ("extras", text)) if v}
                            image, data = self.provenance.finish_upscaled(
                                source, image, texts, final.name)
                            result.images[i] = image
                            fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, final)
                finally:
                    tmp.unlink(missing_ok=True)
                paths.append(final)
        return paths
