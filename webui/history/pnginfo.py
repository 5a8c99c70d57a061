"""PNG Info: read the generation parameters stored in an image by any common Stable Diffusion tool.

Entry point: :func:`read_generation_info`. It never raises on bad input; it returns ``None`` when the
image holds no text metadata at all, or a :class:`GenerationInfo` with whatever could be read.

Where the metadata lives:

* PNG text chunks (tEXt, zTXt, iTXt), read through Pillow. Raw UTF-8 written into a Latin-1 tEXt chunk
  (Stability Matrix) is repaired.
* EXIF (JPEG, WebP, PNG eXIf): the Exif IFD ``UserComment`` (``UNICODE\\0`` + UTF-16, byte order
  sniffed from the text since tools disagree with their own TIFF header) becomes ``parameters``;
  IFD0 strings of the form ``prompt:{...}`` / ``workflow:{...}`` (ComfyUI WebP) become those keys.
* A1111 "stealth" alpha/RGB least-significant-bit payloads (``stealth_pnginfo``, ``stealth_pngcomp``,
  ``stealth_rgbinfo``, ``stealth_rgbcomp``), read only when nothing else was found.

Which tool wrote what:

* ``parameters`` as A1111 infotext: a1111, forge (also reForge, Forge classic), sdnext, civitai,
  stability_matrix (with ``smproj``/``parameters-json``), comfyui (SaveImageWithMetaData node, which
  also stores the graph). Parsed by :mod:`webui.history.infotext`.
* ``parameters`` as JSON: swarmui (``sui_image_params``), fooocus (``fooocus_scheme`` or Fooocus keys).
* ``prompt`` (API graph JSON) / ``workflow``: comfyui, parsed here by walking the graph.
* ``invokeai_metadata`` (3.x-6.x), ``sd-metadata`` and ``Dream`` (2.x): invokeai.
* ``Software: NovelAI`` / ``Description`` + ``Comment`` JSON: novelai.

Fooocus, NovelAI and InvokeAI are parsed with the ``sd-parsers`` library's parser classes (called
directly, not through its ``ParserManager``, whose extractors cache results in module globals keyed
by ``id(image)``); fields it leaves out (sizes, NovelAI steps, InvokeAI 6 model) are filled in from
the same JSON by :func:`_map_json`.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sd_parsers.data import PromptInfo
from sd_parsers.parsers import FooocusParser, InvokeAIParser, NovelAIParser

from webui.history.infotext import format_infotext, params_to_typed, parse_infotext

logger = logging.getLogger(__name__)

A1111 = "a1111"
FORGE = "forge"
SDNEXT = "sdnext"
CIVITAI = "civitai"
STABILITY_MATRIX = "stability_matrix"
COMFYUI = "comfyui"
INVOKEAI = "invokeai"
FOOOCUS = "fooocus"
NOVELAI = "novelai"
SWARMUI = "swarmui"
UNKNOWN = "unknown"

#: Sources whose ``params`` use A1111 infotext labels ("Steps", "CFG scale", ...).
INFOTEXT_SOURCES = frozenset({A1111, FORGE, SDNEXT, CIVITAI, STABILITY_MATRIX, COMFYUI})

_USER_COMMENT_TAG = 0x9286
_EXIF_IFD_TAG = 0x8769
_IFD0_PREFIXED_JSON = re.compile(r"^\s*(\w+)\s*:\s*([\[{].*)$", re.S)


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass
class GenerationInfo:
    """Generation parameters read from an image.

    ``source`` is one of "a1111", "forge", "sdnext", "civitai", "stability_matrix", "comfyui",
    "invokeai", "fooocus", "novelai", "swarmui" or "unknown". ``params`` holds every key/value found
    as strings: A1111 labels for the sources in :data:`INFOTEXT_SOURCES`, the tool's own (flattened,
    dotted) JSON keys for the others. ``raw`` is the metadata text as found (infotext or JSON).
    ``scheduler`` is the schedule type (A1111 "Schedule type", ComfyUI/Fooocus/SwarmUI "scheduler",
    NovelAI "noise_schedule") when stored separately from the sampler.
    """

    source: str = UNKNOWN
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    model_hash: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    scheduler: str | None = None

    @property
    def size(self) -> str | None:
        """``"WIDTHxHEIGHT"`` when both are known, else ``None``."""
        if self.width is None or self.height is None:
            return None
        return f"{self.width}x{self.height}"

    def _core_params(self) -> dict[str, object]:
        return {
            "Steps": self.steps,
            "Sampler": self.sampler,
            "Schedule type": self.scheduler,
            "CFG scale": self.cfg_scale,
            "Seed": self.seed,
            "Size": self.size,
            "Model hash": self.model_hash,
            "Model": self.model,
        }

    def infotext(self) -> str:
        """Return these parameters as an A1111 infotext (the ``parameters`` PNG text).

        For sources that already use A1111 labels every param is kept, in its original order, with
        the typed fields written over their labels; for the other sources only the typed fields are
        written, since their native keys mean nothing to A1111.
        """
        core = self._core_params()
        if self.source in INFOTEXT_SOURCES:
            params: dict[str, object] = dict(self.params)
            for key, value in core.items():
                if value is not None:
                    params[key] = value
        else:
            params = core
        try:
            return format_infotext(self.prompt, self.negative_prompt, params)
        except ValueError:
            logger.debug("params with labels infotext cannot hold; writing typed fields only")
            return format_infotext(self.prompt, self.negative_prompt, core)

    def to_table(self) -> list[tuple[str, str]]:
        """Return ``(name, value)`` rows for a UI table: source, prompts, typed fields, other params.

        Empty values are left out, and params that repeat a row already shown (same label, or the
        same text as the prompt or negative prompt) are not shown twice.
        """
        rows: list[tuple[str, str]] = [("Source", self.source)]
        rows += [("Prompt", self.prompt), ("Negative prompt", self.negative_prompt)]
        for label, value in self._core_params().items():
            if value is not None:
                rows.append((label, _display(value)))
        rows = [(name, value) for name, value in rows if value != ""]
        shown_names = {name for name, _ in rows}
        shown_texts = {self.prompt, self.negative_prompt} - {""}
        for key, value in self.params.items():
            if key in shown_names or value == "" or value in shown_texts:
                continue
            rows.append((key, value))
        return rows


def _display(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else int(float(text))
        if isinstance(value, float) and not value.is_integer():
            return None
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _to_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text.strip() else None


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, type(None), dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(data: dict, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """Flatten nested dicts into dotted keys (two levels deep); lists and deeper dicts become JSON."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < 2:
            flat.update(_flatten(value, name + ".", depth + 1))
        else:
            flat[name] = _scalar_text(value)
    return flat


def _load_json(text: str | None) -> Any:
    if not text or not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        logger.debug("not JSON: %.80r", text)
        return None


def _parse_size(text: Any) -> tuple[int, int] | None:
    """Read ``"1024x768"``, ``"(768, 1280)"`` or ``[768, 1280]`` as (width, height)."""
    if isinstance(text, (list, tuple)) and len(text) == 2:
        width, height = _to_int(text[0]), _to_int(text[1])
        return (width, height) if width and height else None
    if not isinstance(text, str):
        return None
    match = re.search(r"(\d+)\s*(?:x|X|×|,|\*)\s*(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


# --------------------------------------------------------------------------------------------------
# Metadata extraction
# --------------------------------------------------------------------------------------------------


def _fix_mojibake(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1 (raw UTF-8 in a tEXt chunk)."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _png_texts(image: Image.Image) -> dict[str, str]:
    """Text chunks, including those after the image data; falls back to ``image.info``."""
    texts: dict[str, str] = {}
    try:
        chunk_texts = getattr(image, "text", None)
    except Exception:  # truncated or broken file: the chunks before IDAT are still in image.info
        logger.debug("cannot read all PNG text chunks", exc_info=True)
        chunk_texts = None
    if not isinstance(chunk_texts, dict):
        chunk_texts = None
    for source in (chunk_texts or {}, image.info):
        for key, value in source.items():
            if isinstance(key, str) and isinstance(value, str) and key not in texts:
                texts[key] = _fix_mojibake(str(value))
    comment = image.info.get("comment")
    if isinstance(comment, bytes) and "comment" not in texts:
        texts["comment"] = comment.decode("utf-8", errors="replace")
    return texts


def _decode_utf16(data: bytes, big_endian_default: bool) -> str:
    """Decode UTF-16 whose byte order must be guessed: BOM, else where the zero bytes are."""
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return data.decode("utf-16", errors="replace")
    even_zeros, odd_zeros = data[0::2].count(0), data[1::2].count(0)
    big_endian = even_zeros > odd_zeros if even_zeros != odd_zeros else big_endian_default
    return data.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")


def decode_user_comment(value: Any, big_endian_default: bool = True) -> str | None:
    """Decode an EXIF UserComment (8-byte character-code prefix + text) to a string."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        prefix, body = bytes(value[:8]), bytes(value[8:])
        if prefix == b"UNICODE\0":
            text = _decode_utf16(body, big_endian_default)
        elif prefix in (b"ASCII\0\0\0", b"\0" * 8):
            text = body.decode("utf-8", errors="replace")
        elif prefix.startswith(b"JIS"):
            text = body.decode("shift_jis", errors="replace")
        else:
            text = bytes(value).decode("utf-8", errors="replace")
    else:
        return None
    text = text.strip("\0")
    return text if text.strip() else None


def _exif_texts(image: Image.Image) -> dict[str, str]:
    """``parameters`` from UserComment and ComfyUI's ``key:JSON`` strings from IFD0."""
    texts: dict[str, str] = {}
    try:
        exif = image.getexif()
        user_comment = exif.get_ifd(_EXIF_IFD_TAG).get(_USER_COMMENT_TAG)
    except Exception:
        logger.debug("cannot read EXIF", exc_info=True)
        return texts
    text = decode_user_comment(user_comment, big_endian_default=exif.endian != "<")
    if text:
        texts["parameters"] = text
    for value in exif.values():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            match = _IFD0_PREFIXED_JSON.match(value.strip("\0"))
            if match:
                texts.setdefault(match.group(1), match.group(2))
    return texts


_STEALTH_SIGNATURES = {
    "alpha": {b"stealth_pnginfo": False, b"stealth_pngcomp": True},
    "rgb": {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True},
}
_STEALTH_HEADER_BITS = 15 * 8 + 32


def _lsb_bits(planes: np.ndarray, count: int) -> np.ndarray | None:
    """First ``count`` LSBs of ``planes`` (h, w, c), read column by column (x, then y, then c)."""
    height, width, channels = planes.shape
    columns = -(-count // (height * channels))
    if count <= 0 or columns > width:
        return None
    bits = (planes[:, :columns, :] & 1).transpose(1, 0, 2).reshape(-1)
    return bits[:count].astype(np.uint8)


def _read_stealth_planes(planes: np.ndarray, mode: str) -> str | None:
    header = _lsb_bits(planes, _STEALTH_HEADER_BITS)
    if header is None:
        return None
    signature = np.packbits(header[:120]).tobytes()
    compressed = _STEALTH_SIGNATURES[mode].get(signature)
    if compressed is None:
        return None
    length = int.from_bytes(np.packbits(header[120:]).tobytes(), "big")
    bits = _lsb_bits(planes, _STEALTH_HEADER_BITS + length)
    if bits is None:
        logger.debug("stealth payload length %d does not fit the image", length)
        return None
    payload = np.packbits(bits[_STEALTH_HEADER_BITS:]).tobytes()
    if compressed:
        payload = gzip.decompress(payload)
    return payload.decode("utf-8", errors="replace")


def read_stealth_info(image: Image.Image) -> str | None:
    """Read an A1111 "stealth pnginfo" payload hidden in the pixels' least significant bits.

    Alpha mode (``stealth_pnginfo`` / gzip ``stealth_pngcomp``) is tried on RGBA images, RGB mode
    (``stealth_rgbinfo`` / ``stealth_rgbcomp``) on RGB and RGBA images. Returns ``None`` when there
    is no payload or it cannot be read.
    """
    if image.mode not in ("RGBA", "RGB"):
        return None
    try:
        pixels = np.asarray(image)
        modes = ("alpha", "rgb") if image.mode == "RGBA" else ("rgb",)
        for mode in modes:
            planes = pixels[..., 3:4] if mode == "alpha" else pixels[..., :3]
            text = _read_stealth_planes(planes, mode)
            if text:
                return text
    except Exception:
        logger.debug("cannot read stealth metadata", exc_info=True)
    return None


def _collect_texts(image: Image.Image) -> dict[str, str]:
    texts = _png_texts(image)
    for key, value in _exif_texts(image).items():
        texts.setdefault(key, value)
    return texts


# --------------------------------------------------------------------------------------------------
# Generic JSON mapping (SwarmUI, unknown JSON, and gaps left by sd-parsers)
# --------------------------------------------------------------------------------------------------

_JSON_ALIASES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "positive_prompt", "PositivePrompt", "Prompt"),
    "negative_prompt": ("negative_prompt", "negativeprompt", "NegativePrompt", "uc", "negative"),
    "steps": ("steps", "Steps", "num_inference_steps"),
    "sampler": ("sampler", "sampler_name", "Sampler"),
    "scheduler": ("scheduler", "noise_schedule", "Scheduler"),
    "cfg_scale": ("cfg_scale", "cfgscale", "CfgScale", "guidance_scale", "scale", "cfg"),
    "seed": ("seed", "Seed", "noise_seed"),
    "width": ("width", "Width"),
    "height": ("height", "Height"),
    "size": ("resolution", "size", "Size"),
    "model": ("model_weights", "model", "Model", "ModelName", "base_model", "model_name"),
    "model_hash": ("model_hash", "ModelHash", "base_model_hash", "hash"),
}
# InvokeAI names the sampler "scheduler".
_INVOKEAI_ALIASES = {**_JSON_ALIASES, "sampler": ("scheduler",), "scheduler": ()}


def _first(data: dict, keys: Iterable[str]) -> Any:
    for key in keys:
        value = data.get(key)
        if value not in (None, ""):
            return value
    return None


def _model_fields(value: Any) -> tuple[str | None, str | None]:
    """Model name and hash from a string or an object like InvokeAI's ``{"name": ..., "hash": ...}``."""
    if isinstance(value, dict):
        name = _first(value, ("name", "model_name", "title"))
        return _to_str(name), _to_str(value.get("hash"))
    return _to_str(value), None


def _map_json(data: dict, aliases: dict[str, tuple[str, ...]] = _JSON_ALIASES) -> dict[str, Any]:
    """Typed GenerationInfo fields found in a flat JSON object under common key names."""
    fields: dict[str, Any] = {}

    def get(name: str) -> Any:
        return _first(data, aliases[name])

    for name in ("prompt", "negative_prompt"):
        value = get(name)
        fields[name] = value if isinstance(value, str) else None
    fields["steps"] = _to_int(get("steps"))
    fields["sampler"] = _to_str(get("sampler"))
    fields["scheduler"] = _to_str(get("scheduler"))
    fields["cfg_scale"] = _to_float(get("cfg_scale"))
    fields["seed"] = _to_int(get("seed"))
    fields["width"], fields["height"] = _to_int(get("width")), _to_int(get("height"))
    size = _parse_size(get("size"))
    if size and (fields["width"] is None or fields["height"] is None):
        fields["width"], fields["height"] = size
    model, model_hash = _model_fields(get("model"))
    fields["model"] = model
    fields["model_hash"] = _to_str(get("model_hash")) or model_hash
    return fields


def _fill_missing(info: GenerationInfo, fields: dict[str, Any]) -> GenerationInfo:
    """Set every still-empty field of ``info`` that ``fields`` has a value for."""
    for name, value in fields.items():
        if value in (None, ""):
            continue
        if getattr(info, name) in (None, ""):
            setattr(info, name, value)
    return info


# --------------------------------------------------------------------------------------------------
# A1111 family (infotext)
# --------------------------------------------------------------------------------------------------


def _infotext_source(params: dict[str, str], texts: dict[str, str]) -> str:
    if "smproj" in texts or "parameters-json" in texts:
        return STABILITY_MATRIX
    if "Civitai resources" in params or "Civitai metadata" in params:
        return CIVITAI
    if params.get("App", "").strip().lower().startswith("sd.next"):
        return SDNEXT
    version = params.get("Version", "").strip()
    if re.match(r"f\d", version) or version == "classic" or "forge" in version.lower():
        return FORGE
    if isinstance(_load_json(texts.get("prompt")), dict):
        return COMFYUI  # e.g. ComfyUI-SaveImageWithMetaData: infotext plus the graph
    if params:
        return A1111
    return UNKNOWN


def _civitai_checkpoint(params: dict[str, str]) -> str | None:
    resources = _load_json(params.get("Civitai resources"))
    if not isinstance(resources, list):
        return None
    for resource in resources:
        if isinstance(resource, dict) and resource.get("type") == "checkpoint":
            name = " ".join(
                str(resource[key]) for key in ("modelName", "modelVersionName") if resource.get(key)
            )
            return name or None
    return None


def info_from_infotext(text: str, texts: dict[str, str] | None = None) -> GenerationInfo:
    """Build a :class:`GenerationInfo` from an A1111 infotext.

    ``texts`` (all metadata texts of the image) only serves to tell which tool wrote it.
    """
    parsed = parse_infotext(text)
    params: dict[str, str] = parsed["params"]
    typed = params_to_typed(params)
    info = GenerationInfo(
        source=_infotext_source(params, texts or {}),
        prompt=parsed["prompt"],
        negative_prompt=parsed["negative_prompt"],
        params=dict(params),
        raw=text,
    )
    for name in ("steps", "sampler", "scheduler", "cfg_scale", "seed", "width", "height",
                 "model", "model_hash"):
        if name in typed:
            setattr(info, name, typed[name])
    if info.model is None and info.source == CIVITAI:
        info.model = _civitai_checkpoint(params)
    return info


# --------------------------------------------------------------------------------------------------
# Tools parsed with sd-parsers (Fooocus, NovelAI, InvokeAI)
# --------------------------------------------------------------------------------------------------


def _info_from_prompt_info(result: PromptInfo, source: str) -> GenerationInfo:
    """Typed fields of an sd-parsers result (first sampler; prompts joined with ", ")."""
    info = GenerationInfo(source=source)
    info.prompt = ", ".join(str(prompt) for prompt in result.prompts)
    info.negative_prompt = ", ".join(str(prompt) for prompt in result.negative_prompts)
    if not result.samplers:
        return info
    sampler = result.samplers[0]
    parameters = sampler.parameters
    info.sampler = _to_str(sampler.name)
    info.scheduler = _to_str(parameters.get("scheduler"))
    info.steps = _to_int(parameters.get("steps"))
    info.cfg_scale = _to_float(parameters.get("cfg_scale"))
    info.seed = _to_int(parameters.get("seed"))
    if sampler.model is not None:
        info.model = _to_str(sampler.model.name)
        info.model_hash = _to_str(sampler.model.hash)
    return info


def _run_sd_parser(parser_class: type, chunks: dict[str, Any], source: str) -> GenerationInfo:
    """Run one sd-parsers parser; on failure return an empty GenerationInfo of ``source``."""
    try:
        return _info_from_prompt_info(parser_class().parse(dict(chunks)), source)
    except Exception:
        logger.debug("sd-parsers %s could not parse the metadata", parser_class.__name__,
                     exc_info=True)
        return GenerationInfo(source=source)


def _is_novelai(texts: dict[str, str]) -> bool:
    if texts.get("Software", "").strip().lower().startswith("novelai"):
        return True
    comment = _load_json(texts.get("Comment")) if "Description" in texts else None
    return isinstance(comment, dict) and "uc" in comment


def _parse_novelai(texts: dict[str, str]) -> GenerationInfo:
    comment = _load_json(texts.get("Comment"))
    comment = comment if isinstance(comment, dict) else {}
    chunks = {
        "Description": texts.get("Description") or comment.get("prompt") or "",
        "Source": texts.get("Source", ""),
        "Comment": texts.get("Comment", "{}"),
    }
    info = _run_sd_parser(NovelAIParser, chunks, NOVELAI)
    fields = _map_json(comment)
    fields.pop("model", None)  # NovelAI's model lives in "Source", handled by sd-parsers
    _fill_missing(info, fields)
    other = {key: value for key, value in texts.items() if key != "Comment" or not comment}
    info.params = {**other, **_flatten(comment)}
    info.raw = json.dumps(texts, ensure_ascii=False, indent=2)
    return info


def _parse_invokeai(texts: dict[str, str]) -> GenerationInfo | None:
    keys = [key for key in ("invokeai_metadata", "sd-metadata", "Dream") if key in texts]
    if not keys:
        return None
    info = _run_sd_parser(InvokeAIParser, texts, INVOKEAI)
    data = _load_json(texts.get("invokeai_metadata") or texts.get("sd-metadata"))
    data = data if isinstance(data, dict) else {}
    image_data = data.get("image") if isinstance(data.get("image"), dict) else {}
    if "invokeai_metadata" in texts:
        _fill_missing(info, _map_json(data, _INVOKEAI_ALIASES))
    else:
        _fill_missing(info, _map_json({**data, **image_data}))
    if info.width is None and "Dream" in texts:
        _fill_missing(info, _dream_size(texts["Dream"]))
    info.params = _flatten({key: value for key, value in data.items() if key != "image"})
    info.params.update(_flatten(image_data))
    if "Dream" in texts:
        info.params["Dream"] = texts["Dream"]
    info.raw = texts[keys[0]]
    return info


def _dream_size(dream: str) -> dict[str, Any]:
    width = re.search(r"\s-W\s*(\d+)", dream)
    height = re.search(r"\s-H\s*(\d+)", dream)
    return {
        "width": int(width.group(1)) if width else None,
        "height": int(height.group(1)) if height else None,
    }


def _is_fooocus(data: dict, texts: dict[str, str]) -> bool:
    if "fooocus_scheme" in texts:
        return True
    version = str(data.get("version", ""))
    return version.lower().startswith("fooocus") or {"base_model", "guidance_scale"} <= data.keys()


def _parse_fooocus(text: str, data: dict, texts: dict[str, str]) -> GenerationInfo:
    info = _run_sd_parser(FooocusParser, {"parameters": text}, FOOOCUS)
    _fill_missing(info, _map_json(data))
    info.params = _flatten(data)
    if "fooocus_scheme" in texts:
        info.params["fooocus_scheme"] = texts["fooocus_scheme"]
    info.raw = text
    return info


# --------------------------------------------------------------------------------------------------
# SwarmUI and other JSON "parameters"
# --------------------------------------------------------------------------------------------------


def _parse_swarmui(text: str, data: dict) -> GenerationInfo:
    image_params = data.get("sui_image_params")
    image_params = image_params if isinstance(image_params, dict) else {}
    info = _fill_missing(GenerationInfo(source=SWARMUI), _map_json(image_params))
    info.model_hash = None  # SwarmUI keeps hashes in sui_models
    for model in data.get("sui_models") or []:
        if isinstance(model, dict) and model.get("param") == "model":
            info.model_hash = _to_str(model.get("hash"))
    for section, value in data.items():
        if isinstance(value, dict):
            info.params.update(_flatten(value))
        else:
            info.params[section] = _scalar_text(value)
    info.raw = text
    return info


def _parse_json_parameters(text: str, texts: dict[str, str]) -> GenerationInfo | None:
    data = _load_json(text)
    if not isinstance(data, dict):
        return None
    if "sui_image_params" in data:
        return _parse_swarmui(text, data)
    if _is_fooocus(data, texts):
        return _parse_fooocus(text, data, texts)
    info = _fill_missing(GenerationInfo(source=UNKNOWN), _map_json(data))
    info.params = _flatten(data)
    info.raw = text
    return info


# --------------------------------------------------------------------------------------------------
# ComfyUI (API "prompt" graph)
# --------------------------------------------------------------------------------------------------

_SAMPLER_CLASSES = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
# Inputs through which a sampler's settings may live on another node (SamplerCustom*, guiders).
_SETTING_LINKS = ("guider", "sampler", "sigmas", "noise")
# Inputs that never lead to a prompt's text.
_NOT_CONDITIONING = {
    "clip", "model", "vae", "image", "images", "pixels", "mask", "control_net", "latent",
    "samples", "latent_image", "style_model", "clip_vision", "clip_vision_output", "upscale_model",
}
_TEXT_KEYS = ("text", "text_g", "text_l", "prompt", "string", "value", "text_positive")
_MODEL_KEYS = ("ckpt_name", "unet_name", "model_name", "ckpt")


class _ComfyGraph:
    """Walks a ComfyUI API graph (``{node_id: {"class_type", "inputs"}}``) backwards from samplers."""

    def __init__(self, graph: dict):
        self.nodes: dict[str, dict] = {
            str(node_id): node for node_id, node in graph.items()
            if isinstance(node, dict) and isinstance(node.get("inputs", {}), dict)
        }

    def inputs(self, node_id: str) -> dict:
        return self.nodes.get(node_id, {}).get("inputs") or {}

    def class_type(self, node_id: str) -> str:
        return str(self.nodes.get(node_id, {}).get("class_type", ""))

    def link(self, value: Any) -> str | None:
        """The upstream node id if ``value`` is a link ``[node_id, output_index]``."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
            node_id = str(value[0])
            if node_id in self.nodes:
                return node_id
        return None

    def links(self, node_id: str, names: Iterable[str] | None = None) -> list[str]:
        """Upstream node ids of ``node_id``, through ``names`` only when given."""
        inputs = self.inputs(node_id)
        keys = inputs.keys() if names is None else [name for name in names if name in inputs]
        return [up for up in (self.link(inputs[key]) for key in keys) if up is not None]

    def resolve(self, value: Any, keys: Iterable[str], depth: int = 0) -> Any:
        """A literal input value, following links to primitive/literal nodes (a few hops)."""
        upstream = self.link(value)
        if upstream is None:
            return value
        if depth > 4:
            return None
        inputs = self.inputs(upstream)
        for key in list(keys) + ["value", "seed", "int", "float", "string", "text", "number"]:
            if key in inputs:
                return self.resolve(inputs[key], keys, depth + 1)
        links = self.links(upstream)
        return self.resolve([links[0], 0], keys, depth + 1) if len(links) == 1 else None

    # -- samplers ----------------------------------------------------------------------------------

    def is_sampler(self, node_id: str) -> bool:
        inputs = self.inputs(node_id)
        if self.class_type(node_id) in _SAMPLER_CLASSES:
            return True
        if "latent_image" in inputs and ("positive" in inputs or "guider" in inputs):
            return True
        return {"sampler_name", "steps", "cfg"} <= inputs.keys()

    def samplers(self) -> list[str]:
        return [node_id for node_id in self.nodes if self.is_sampler(node_id)]

    def upstream(self, start: Iterable[str], skip: set[str], stop: Callable[[str], bool]):
        """Breadth-first node ids upstream of ``start``, not entering inputs named in ``skip``
        and not going past nodes for which ``stop`` is true."""
        queue, seen = list(start), set()
        while queue:
            node_id = queue.pop(0)
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id
            if stop(node_id):
                continue
            names = [name for name in self.inputs(node_id) if name not in skip]
            queue.extend(self.links(node_id, names))

    def latent_sources(self, sampler_id: str) -> Iterable[str]:
        skip = {"model", "positive", "negative", "vae", "clip", "guider", "sampler", "sigmas",
                "noise", "conditioning", "control_net"}
        start = self.links(sampler_id, ["latent_image", "latent"])
        return self.upstream(start, skip, self.is_sampler)

    def primary_sampler(self, samplers: list[str]) -> str:
        """The first sampler whose latent does not come from another sampler (the first pass)."""
        for sampler_id in samplers:
            if not any(self.is_sampler(up) for up in self.latent_sources(sampler_id)):
                return sampler_id
        return samplers[0]

    def setting(self, sampler_id: str, keys: tuple[str, ...]) -> Any:
        """A sampler setting, on the sampler or on its guider/sampler/sigmas/noise nodes."""
        first = self.links(sampler_id, _SETTING_LINKS)
        second = [up for node_id in first for up in self.links(node_id, _SETTING_LINKS)]
        for node_id in [sampler_id, *first, *second]:
            inputs = self.inputs(node_id)
            for key in keys:
                if key in inputs:
                    value = self.resolve(inputs[key], keys)
                    if value is not None and self.link(value) is None:
                        return value
        return None

    # -- prompts, model, size ----------------------------------------------------------------------

    def _conditioning_start(self, sampler_id: str, role: str) -> list[str]:
        direct = self.links(sampler_id, [role])
        if direct:
            return direct
        for guider in self.links(sampler_id, ["guider"]):
            found = self.links(guider, [role]) or (
                self.links(guider, ["conditioning"]) if role == "positive" else []
            )
            if found:
                return found
        return []

    def _node_text(self, node_id: str) -> str | None:
        inputs = self.inputs(node_id)
        for key in _TEXT_KEYS:
            if key in inputs:
                value = self.resolve(inputs[key], (key,))
                if isinstance(value, str):
                    return value
        return None

    def prompt_text(self, sampler_id: str, role: str) -> tuple[str | None, str | None]:
        """(text, id of the text node) of the positive/negative conditioning."""
        texts: list[str] = []
        first_node = None
        for node_id in self._conditioning_nodes(self._conditioning_start(sampler_id, role), role):
            text = self._node_text(node_id)
            if text is not None and text not in texts:
                texts.append(text)
                first_node = first_node or node_id
        return ("\n".join(texts) if texts else None), first_node

    def _conditioning_nodes(self, start: list[str], role: str) -> Iterable[str]:
        """Depth-first nodes reachable through conditioning inputs, stopping at text nodes."""
        stack, seen = list(reversed(start)), set()
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            yield node_id
            if self._node_text(node_id) is not None:
                continue
            inputs = self.inputs(node_id)
            names = [role] if role in inputs else [n for n in inputs if n not in _NOT_CONDITIONING]
            stack.extend(reversed(self.links(node_id, names)))

    def model(self, sampler_id: str) -> tuple[str | None, list[str]]:
        """(checkpoint name, LoRAs "name:strength") along the sampler's model input."""
        start = self.links(sampler_id, ["model"])
        if not start:
            start = [up for guider in self.links(sampler_id, ["guider"])
                     for up in self.links(guider, ["model"])]
        loras: list[str] = []
        for node_id in self.upstream(start, set(), lambda n: False):
            inputs = self.inputs(node_id)
            lora = inputs.get("lora_name")
            if isinstance(lora, str):
                loras.append(f"{lora}:{inputs.get('strength_model', 1.0)}")
            for key in _MODEL_KEYS:
                value = self.resolve(inputs.get(key), (key,))
                if isinstance(value, str) and value:
                    return value, loras
        return None, loras

    def size(self, sampler_id: str) -> tuple[int, int] | None:
        """Width and height of the first latent (or image resize) node above the sampler."""
        for node_id in self.latent_sources(sampler_id):
            if node_id == sampler_id or self.is_sampler(node_id):
                continue
            inputs = self.inputs(node_id)
            width = _to_int(self.resolve(inputs.get("width"), ("width",)))
            height = _to_int(self.resolve(inputs.get("height"), ("height",)))
            if width and height:
                return width, height
            for key in ("resolution", "dimensions"):
                size = _parse_size(inputs.get(key))
                if size:
                    return size
        return None

    def clip_skip(self, text_node: str | None) -> int | None:
        if text_node is None:
            return None
        for node_id in self.upstream(self.links(text_node, ["clip"]), set(), lambda n: False):
            layer = _to_int(self.inputs(node_id).get("stop_at_clip_layer"))
            if layer is not None:
                return abs(layer)
        return None


def _comfy_second_pass(graph: _ComfyGraph, primary: str, others: list[str], model: str | None,
                       params: dict[str, str]) -> None:
    """Describe a refiner (other checkpoint) or a hires pass (same checkpoint) in ``params``."""
    for sampler_id in others:
        other_model, _ = graph.model(sampler_id)
        if other_model and other_model != model:
            params["Refiner"] = other_model
            steps = _to_float(graph.setting(primary, ("steps",)))
            end = _to_float(graph.setting(primary, ("end_at_step",)))
            if steps and end is not None and 0 < end < steps:
                params["Refiner switch at"] = _scalar_text(round(end / steps, 4))
            return
        denoise = graph.setting(sampler_id, ("denoise",))
        params["Hires steps"] = _scalar_text(graph.setting(sampler_id, ("steps",)))
        if denoise is not None:
            params["Denoising strength"] = _scalar_text(denoise)
        return


def _parse_comfy_graph(graph: dict) -> GenerationInfo | None:
    comfy = _ComfyGraph(graph)
    samplers = comfy.samplers()
    if not samplers:
        return None
    primary = comfy.primary_sampler(samplers)
    info = GenerationInfo(source=COMFYUI)
    positive, positive_node = comfy.prompt_text(primary, "positive")
    negative, _ = comfy.prompt_text(primary, "negative")
    info.prompt, info.negative_prompt = positive or "", negative or ""
    info.steps = _to_int(comfy.setting(primary, ("steps",)))
    info.sampler = _to_str(comfy.setting(primary, ("sampler_name",)))
    info.scheduler = _to_str(comfy.setting(primary, ("scheduler",)))
    info.cfg_scale = _to_float(comfy.setting(primary, ("cfg",)))
    info.seed = _to_int(comfy.setting(primary, ("seed", "noise_seed")))
    info.width, info.height = comfy.size(primary) or (None, None)
    info.model, loras = comfy.model(primary)
    params: dict[str, Any] = {
        "Steps": info.steps, "Sampler": info.sampler, "Schedule type": info.scheduler,
        "CFG scale": comfy.setting(primary, ("cfg",)), "Seed": info.seed, "Size": info.size,
        "Model": info.model, "Clip skip": comfy.clip_skip(positive_node),
    }
    denoise = _to_float(comfy.setting(primary, ("denoise",)))
    if denoise is not None and denoise < 1.0:
        params["Denoising strength"] = comfy.setting(primary, ("denoise",))
    if loras:
        params["Loras"] = ", ".join(loras)
    info.params = {key: _scalar_text(value) for key, value in params.items() if value is not None}
    later = [sampler_id for sampler_id in samplers if sampler_id != primary]
    _comfy_second_pass(comfy, primary, later, info.model, info.params)
    return info


def _parse_comfyui(texts: dict[str, str]) -> GenerationInfo | None:
    if "prompt" not in texts and "workflow" not in texts:
        return None
    graph = _load_json(texts.get("prompt"))
    info = _parse_comfy_graph(graph) if isinstance(graph, dict) else None
    if info is None:
        if not isinstance(_load_json(texts.get("workflow")), dict):
            return None
        info = GenerationInfo(source=COMFYUI)  # UI workflow only: nothing typed to read
    info.raw = texts.get("prompt") or texts.get("workflow", "")
    return info


# --------------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------------


def _parse_parameters(texts: dict[str, str]) -> GenerationInfo | None:
    text = texts.get("parameters")
    if not text or not text.strip():
        return None
    if text.lstrip().startswith("{"):
        return _parse_json_parameters(text, texts)
    info = info_from_infotext(text, texts)
    return info if info.source != UNKNOWN or info.prompt.strip() else None


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
    if _is_novelai(texts):
        info = _parse_novelai(texts)
        if info is not None:
            return info
    parsers: tuple[Callable[[dict[str, str]], GenerationInfo | None], ...] = (
        _parse_invokeai, _parse_parameters, _parse_comfyui, _parse_comment,
    )
    for parser in parsers:
        info = parser(texts)
        if info is not None:
            return info
    return None


def _parse_stealth(text: str) -> GenerationInfo:
    """A stealth payload is an infotext, or (NovelAI) a JSON object of its PNG text chunks."""
    data = _load_json(text) if text.lstrip().startswith("{") else None
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
