"""Upscalers by name: the image resizers (None, Lanczos, Nearest), the ESRGAN-family models
found in ``<models-dir>/ESRGAN`` (and A1111's ``RealESRGAN`` folder), and any an extension
registers.

An upscaler is anything with a ``name``, a native ``scale`` and ``upscale(image, scale)``
(``Upscaler``). ``UpscalerRegistry.upscale(name, image, size)`` gives the picture at exactly
``size``: the upscaler does its part and Lanczos makes up the rest, as A1111 does. The folder
is read anew on every listing, so a model copied in is offered at once; networks are loaded
on first use and the last few are kept.

A1111's names are honoured: Real-ESRGAN's files are listed as A1111 lists them
(``RealESRGAN_x4plus.pth`` is "R-ESRGAN 4x+"), and the file stem is accepted as well; other
files are named by their stem ("4x-UltraSharp").
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from PIL import Image

from webui.errors import RequestError

log = logging.getLogger(__name__)

#: the subfolders of the models folder searched for upscaler weights (A1111's names)
MODEL_FOLDERS = ("ESRGAN", "RealESRGAN")
#: Real-ESRGAN's released files -> the names A1111 lists them under
A1111_NAMES: dict[str, str] = {
    "RealESRGAN_x4plus": "R-ESRGAN 4x+",
    "RealESRGAN_x4plus_anime_6B": "R-ESRGAN 4x+ Anime6B",
    "RealESRGAN_x2plus": "R-ESRGAN 2x+",
    "realesr-general-x4v3": "R-ESRGAN General 4xV3",
    "realesr-general-wdn-x4v3": "R-ESRGAN General WDN 4xV3",
    "realesr-animevideov3": "R-ESRGAN AnimeVideo",
}
#: A1111's default tile size and overlap (its options ``ESRGAN_tile``/``ESRGAN_tile_overlap``)
DEFAULT_TILE = 192
DEFAULT_OVERLAP = 8
#: how many loaded networks are kept (each is 1-70 MB)
KEEP_LOADED = 2


@runtime_checkable
class Upscaler(Protocol):
    """What an upscaler offers. ``upscale`` returns ``image`` made larger by about ``scale``
    (the registry resizes the result to the exact size wanted)."""

    name: str
    scale: float

    def upscale(self, image: Image.Image, scale: float) -> Image.Image: ...


@dataclass
class Resizer:
    """A plain image resize (``resample`` None: "None", which leaves the picture as it is and
    lets the registry's final Lanczos resize do the work, as A1111's "None" does)."""

    name: str
    resample: Image.Resampling | None
    scale: float = 4  # what A1111 lists for them

    def upscale(self, image: Image.Image, scale: float) -> Image.Image:
        if self.resample is None:
            return image
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, self.resample)


def scale_from_name(name: str, default: float = 4) -> float:
    """The scale a model's name says ("4x-UltraSharp", "RealESRGAN_x2plus"), else ``default``."""
    m = re.search(r"(?<![0-9])([1-8])[xX](?![a-wyz])|[xX]([1-8])(?![0-9])", name)
    return float(m.group(1) or m.group(2)) if m else default


class UpscalerFailed(RequestError):
    """An upscaler (an extension's) raised or returned no picture; the job fails with this."""


@dataclass
class Named:
    """An extension's upscaler object (anything with ``upscale(image, scale)``) under the name
    it was registered by."""

    name: str
    impl: Any = field(repr=False)

    @property
    def scale(self) -> float:
        return float(getattr(self.impl, "scale", 4) or 4)

    def upscale(self, image: Image.Image, scale: float) -> Image.Image:
        return self.impl.upscale(image, scale)


@dataclass
class ModelUpscaler:
    """An ESRGAN-family weight file. Loaded on first use through the registry (safely: see
    ``webui.upscaling.esrgan``), run on the registry's device in tiles."""

    name: str
    path: Path
    registry: UpscalerRegistry = field(repr=False)
    scale: float = 4

    @property
    def model_name(self) -> str:
        return self.path.stem

    def upscale(self, image: Image.Image, scale: float, tile: int | None = None,
                overlap: int | None = None) -> Image.Image:
        """Run the network until the picture is at least ``scale`` times larger (at most
        three passes, as A1111 does; one pass at least)."""
        from webui.upscaling.runner import run_network

        net = self.registry.network(self)
        self.scale = float(net.scale)
        tile = self.registry.tile if tile is None else tile
        overlap = self.registry.overlap if overlap is None else overlap
        want = (image.width * scale, image.height * scale)
        out = image
        for _ in range(3):
            before = out.size
            out = run_network(net, out, self.registry.device, self.registry.half, tile,
                              overlap)
            if out.size == before or (out.width >= want[0] and out.height >= want[1]):
                break
        return out


class UpscalerRegistry:
    """Every upscaler by name: built-in resizers, model files, and registered ones."""

    def __init__(self, models_dir: Path | None = None, device="cpu", half: bool = False,
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP):
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.device = device
        self.half = half  # fp16 networks (CUDA)
        self.tile = tile
        self.overlap = overlap
        self._builtin: list[Upscaler] = [
            Resizer("None", None), Resizer("Lanczos", Image.Resampling.LANCZOS),
            Resizer("Nearest", Image.Resampling.NEAREST)]
        self._registered: dict[str, Upscaler] = {}
        # more upscalers by name, read on every listing (the extensions' registrations)
        self.sources: list[Callable[[], dict[str, Any]]] = []
        self._files: dict[Path, ModelUpscaler] = {}
        self._loaded: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.RLock()

    @classmethod
    def for_manager(cls, models_dir: Path, manager) -> UpscalerRegistry:
        """On the model manager's device; fp16 on CUDA unless the app runs in float32."""
        import torch

        device = manager.device
        half = device.type == "cuda" and manager.dtype != torch.float32
        return cls(models_dir, device, half)

    # -- what there is -------------------------------------------------------------------
    def register(self, upscaler: Upscaler) -> None:
        """Offer ``upscaler`` by its name (an extension's); a name already taken is refused."""
        if not isinstance(upscaler, Upscaler) or not isinstance(upscaler.name, str) \
                or not upscaler.name.strip():
            raise ValueError("an upscaler needs a name, a scale and upscale(image, scale)")
        with self._lock:
            if upscaler.name.lower() in {n.lower() for n in self.names()}:
                raise ValueError(f"an upscaler named {upscaler.name!r} exists already")
            self._registered[upscaler.name] = upscaler

    def unregister(self, name: str) -> None:
        with self._lock:
            self._registered.pop(name, None)

    def model_files(self) -> list[Path]:
        """Weight files in the upscaler folders, by name."""
        from webui.upscaling.esrgan import MODEL_SUFFIXES

        if self.models_dir is None:
            return []
        found = []
        for sub in MODEL_FOLDERS:
            folder = self.models_dir / sub
            if folder.is_dir():
                found += [p for p in folder.iterdir()
                          if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES
                          and not p.name.startswith(".")]
        return sorted(found, key=lambda p: (p.stem.lower(), p.suffix != ".safetensors"))

    def models(self) -> list[ModelUpscaler]:
        """One upscaler per model name, by name (a ``.safetensors`` wins over a pickle of the
        same stem)."""
        with self._lock:
            out: dict[str, ModelUpscaler] = {}
            for path in self.model_files():
                name = A1111_NAMES.get(path.stem, path.stem)
                if name.lower() in {n.lower() for n in out}:
                    continue
                up = self._files.get(path)
                if up is None:
                    up = self._files[path] = ModelUpscaler(
                        name, path, self, scale_from_name(path.stem))
                out[name] = up
            return sorted(out.values(), key=lambda u: u.name.lower())

    def _from_sources(self) -> list[Upscaler]:
        out: list[Upscaler] = []
        for source in self.sources:
            try:
                found = source() or {}
            except Exception as exc:  # noqa: BLE001 - a broken source hides its own only
                log.warning("upscaler source failed: %s", exc)
                continue
            out += [Named(str(name), impl) for name, impl in found.items()
                    if callable(getattr(impl, "upscale", None))]
        return out

    def all(self) -> list[Upscaler]:
        """Resizers first, then models, then registered ones (A1111's order)."""
        seen: set[str] = set()
        out: list[Upscaler] = []
        for up in [*self._builtin, *self.models(), *self._registered.values(),
                   *self._from_sources()]:
            if up.name.lower() not in seen:
                seen.add(up.name.lower())
                out.append(up)
        return out

    def names(self) -> list[str]:
        return [u.name for u in self.all()]

    def get(self, name: str) -> Upscaler:
        """The upscaler called ``name`` (its A1111 name or its file stem, any case);
        ``RequestError`` naming the choices when there is none."""
        if isinstance(name, str):
            wanted = name.strip().lower()
            ups = self.all()
            for up in ups:
                if up.name.lower() == wanted:
                    return up
            for up in ups:
                if isinstance(up, ModelUpscaler) and up.model_name.lower() == wanted:
                    return up
        raise RequestError(f"unknown upscaler {name!r}; choose one of: "
                           f"{', '.join(self.names())}")

    def canonical(self, name: str) -> str:
        """The listed name of ``name`` (e.g. a file stem -> its A1111 name)."""
        return self.get(name).name

    # -- using them ------------------------------------------------------------------------
    def network(self, up: ModelUpscaler):
        """The loaded network of ``up`` on the registry's device (cached, reloaded when the
        file changed)."""
        from webui.upscaling.esrgan import UpscalerLoadError, load_network

        try:
            st = up.path.stat()
        except OSError:
            raise UpscalerLoadError(f"upscaler file {up.path.name} is gone") from None
        key = (str(up.path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            net = load_network(up.path)
            net = net.to(self.device)
            if self.half:
                net = net.half()
            self._loaded[key] = net
            while len(self._loaded) > KEEP_LOADED:
                self._loaded.popitem(last=False)
            return net

    def upscale(self, name: str, image: Image.Image, size: tuple[int, int], *,
                tile: int | None = None, overlap: int | None = None) -> Image.Image:
        """``image`` (RGB) upscaled by ``name`` to exactly ``size`` (width, height)."""
        up = self.get(name)
        image = image if image.mode == "RGB" else image.convert("RGB")
        factor = max(size[0] / image.width, size[1] / image.height)
        if isinstance(up, ModelUpscaler):
            out = up.upscale(image, factor, tile=tile, overlap=overlap)
        elif isinstance(up, Resizer):
            out = up.upscale(image, factor)
        else:  # an extension's: its failure fails this job only, with its reason
            try:
                out = up.upscale(image, factor)
            except Exception as exc:  # noqa: BLE001
                log.warning("upscaler %s failed: %s", up.name, exc, exc_info=True)
                raise UpscalerFailed(f"upscaler {up.name!r} failed: "
                                     f"{type(exc).__name__}: {exc}") from None
            if not isinstance(out, Image.Image):
                raise UpscalerFailed(f"upscaler {up.name!r} returned no image")
        if out.mode != "RGB":
            out = out.convert("RGB")
        if out.size != tuple(size):
            out = out.resize(tuple(size), Image.Resampling.LANCZOS)
        return out
