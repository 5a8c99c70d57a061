"""PNG Info: read the generation parameters stored in an image by any common Stable Diffusion tool.

Entry point: :func:`read_generation_info`. It never raises on bad input; it returns ``None`` when the
image holds no text metadata at all, or a :class:`~webui.metadata.info.GenerationInfo` with whatever
could be read.

Where the metadata lives (one module per container):

* PNG text chunks (tEXt, zTXt, iTXt): :mod:`webui.metadata.png`.
* EXIF (JPEG, WebP, PNG eXIf) UserComment and ComfyUI's IFD0 ``prompt:{...}`` strings:
  :mod:`webui.metadata.exif`.
* A1111 "stealth" alpha/RGB least-significant-bit payloads, read only when nothing else was found:
  :mod:`webui.metadata.stealth`.

Which tool wrote what (one module per tool):

* ``parameters`` as A1111 infotext: a1111, forge (also reForge, Forge classic), sdnext, civitai,
  stability_matrix (with ``smproj``/``parameters-json``), comfyui (SaveImageWithMetaData node, which
  also stores the graph): :mod:`webui.metadata.a1111` on :mod:`webui.metadata.infotext`.
* ``parameters`` as JSON: swarmui (``sui_image_params``, :mod:`webui.metadata.swarmui`), fooocus
  (``fooocus_scheme`` or Fooocus keys, :mod:`webui.metadata.fooocus`).
* ``prompt`` (API graph JSON) / ``workflow``: comfyui, parsed by walking the graph
  (:mod:`webui.metadata.comfyui`).
* ``invokeai_metadata`` (3.x-6.x), ``sd-metadata`` and ``Dream`` (2.x): invokeai
  (:mod:`webui.metadata.invokeai`).
* ``Software: NovelAI`` / ``Description`` + ``Comment`` JSON: novelai (:mod:`webui.metadata.novelai`).

Fooocus, NovelAI and InvokeAI are parsed with the ``sd-parsers`` library's parser classes
(:mod:`webui.metadata.sdparsers`); fields it leaves out (sizes, NovelAI steps, InvokeAI 6 model) are
filled in from the same JSON by :func:`webui.metadata.jsonmap.map_json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from webui.metadata.a1111 import info_from_infotext
from webui.metadata.comfyui import parse_comfyui
from webui.metadata.exif import exif_texts
from webui.metadata.fooocus import is_fooocus, parse_fooocus
from webui.metadata.info import UNKNOWN, GenerationInfo
from webui.metadata.invokeai import parse_invokeai
from webui.metadata.jsonmap import fill_missing, map_json
from webui.metadata.novelai import is_novelai, parse_novelai
from webui.metadata.png import png_texts
from webui.metadata.stealth import read_stealth_info
from webui.metadata.swarmui import parse_swarmui
from webui.metadata.values import flatten, load_json

logger = logging.getLogger(__name__)


def _collect_texts(image: Image.Image) -> dict[str, str]:
    texts = png_texts(image)
    for key, value in exif_texts(image).items():
        texts.setdefault(key, value)
    return texts


def _parse_parameters(texts: dict[str, str]) -> GenerationInfo | None:
    text = texts.get("parameters")
    if not text or not text.strip():
        return None
    if text.lstrip().startswith("{"):
        return _parse_json_parameters(text, texts)
    info = info_from_infotext(text, texts)
    return info if info.source != UNKNOWN or info.prompt.strip() else None


def _parse_json_parameters(text: str, texts: dict[str, str]) -> GenerationInfo | None:
    data = load_json(text)
    if not isinstance(data, dict):
        return None
    if "sui_image_params" in data:
        return parse_swarmui(text, data)
    if is_fooocus(data, texts):
        return parse_fooocus(text, data, texts)
    info = fill_missing(GenerationInfo(source=UNKNOWN), map_json(data))
    info.params = flatten(data)
    info.raw = text
    return info


def _parse_comment(texts: dict[str, str]) -> GenerationInfo | None:
    """An infotext in a JPEG comment (COM segment) or a PNG ``Comment`` chunk."""
    for key in ("comment", "Comment"):
        text = texts.get(key)
        if text and not text.lstrip().startswith("{"):
            info = info_from_infotext(text, texts)
            if info.params:
                return info
    return None


def _parse_texts(texts: dict[str, str]) -> GenerationInfo | None:
    """Try every known layout on the metadata texts, most specific first."""
    if is_novelai(texts):
        info = parse_novelai(texts)
        if info is not None:
            return info
    parsers: tuple[Callable[[dict[str, str]], GenerationInfo | None], ...] = (
        parse_invokeai, _parse_parameters, parse_comfyui, _parse_comment,
    )
    for parser in parsers:
        info = parser(texts)
        if info is not None:
            return info
    return None


def _parse_stealth(text: str) -> GenerationInfo:
    """A stealth payload is an infotext, or (NovelAI) a JSON object of its PNG text chunks."""
    data = load_json(text) if text.lstrip().startswith("{") else None
    if isinstance(data, dict):
        texts = {str(key): value if isinstance(value, str) else json.dumps(value)
                 for key, value in data.items()}
        info = _parse_texts(texts)
        if info is not None:
            return info
    return info_from_infotext(text)


def _unknown(texts: dict[str, str]) -> GenerationInfo:
    return GenerationInfo(source=UNKNOWN, params=dict(texts),
                          raw=json.dumps(texts, ensure_ascii=False, indent=2))


def _read_from_image(image: Image.Image) -> GenerationInfo | None:
    texts = _collect_texts(image)
    if texts:
        info = _parse_texts(texts)
        return info if info is not None else _unknown(texts)
    stealth = read_stealth_info(image)
    if stealth:
        return _parse_stealth(stealth)
    return None


def read_generation_info(image: Image.Image | str | Path) -> GenerationInfo | None:
    """Read the generation parameters stored in an image, whichever tool wrote them.

    Args:
        image: A PIL image (as opened from its file, so that its metadata is present) or a path.

    Returns:
        A :class:`GenerationInfo`, or ``None`` if the image carries no text metadata at all (or is
        not a readable image). Metadata that no known layout matches is returned with source
        "unknown" and every text found in ``params``. Never raises on bad input; problems are logged
        at debug level.
    """
    try:
        if isinstance(image, Image.Image):
            return _read_from_image(image)
        with Image.open(image) as opened:
            return _read_from_image(opened)
    except Exception:
        logger.debug("cannot read generation info from %r", image, exc_info=True)
        return None
