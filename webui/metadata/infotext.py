"""Write and parse AUTOMATIC1111 "infotext", the ``parameters`` text of a generated image.

The layout, as written by A1111 (and Forge, reForge, SD.Next, Civitai, Stability Matrix, ...)::

    <prompt, may span several lines>
    Negative prompt: <negative prompt, may span several lines>   (absent when empty)
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 123, Size: 1024x1024, Model hash: 0123456789, Model: name

The last line holds ``key: value`` pairs separated by ``, ``. A value that contains ``,``, ``:`` or a
newline is written JSON-quoted (``json.dumps``), as A1111's ``quote()`` does, and unquoted when parsed.

This module is self-contained (standard library only) and follows the behaviour of A1111's
``create_infotext`` / ``parse_generation_parameters`` without sharing code with them.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
from typing import Any

logger = logging.getLogger(__name__)

NEGATIVE_PROMPT_LABEL = "Negative prompt:"

#: A params line must hold at least this many ``key: value`` pairs (A1111's rule), otherwise the
#: last line is taken as part of the prompt.
MIN_PARAM_PAIRS = 3

# A key: a word character first, then words, spaces and a few punctuation marks that extensions use
# in their labels ("ADetailer model 2nd", "Hires CFG Scale", "TI hashes"). No ":", ",", quote or newline.
_KEY_RE = re.compile(r"[ \t]*(\w[\w \-./()+]*?)[ \t]*:[ \t]*")
_NEGATIVE_RE = re.compile(r"(?:^|\n)[ \t]*" + re.escape(NEGATIVE_PROMPT_LABEL) + r" ?")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_JSON_DECODER = json.JSONDecoder()

# Well-known infotext keys and the snake_case name and type used by params_to_typed().
# Keys not listed here keep their string value under a snake_case version of their label
# (see _snake_case); "Size" and "Hires resize" are split into width/height pairs.
TYPED_KEYS: dict[str, tuple[str, type]] = {
    "Steps": ("steps", int),
    "Sampler": ("sampler", str),
    "Schedule type": ("scheduler", str),
    "CFG scale": ("cfg_scale", float),
    "Seed": ("seed", int),
    "Model": ("model", str),
    "Model hash": ("model_hash", str),
    "VAE": ("vae", str),
    "VAE hash": ("vae_hash", str),
    "Denoising strength": ("denoising_strength", float),
    "Clip skip": ("clip_skip", int),
    "ENSD": ("eta_noise_seed_delta", int),
    "Variation seed": ("variation_seed", int),
    "Variation seed strength": ("variation_seed_strength", float),
    "Refiner": ("refiner", str),
    "Refiner switch at": ("refiner_switch_at", float),
    "Hires upscale": ("hires_upscale", float),
    "Hires steps": ("hires_steps", int),
    "Hires upscaler": ("hires_upscaler", str),
    "Lora hashes": ("lora_hashes", str),
    "TI hashes": ("ti_hashes", str),
    "RNG": ("rng", str),
    "Version": ("version", str),
}
_SIZE_KEYS = {"Size": ("width", "height"), "Hires resize": ("hires_width", "hires_height")}


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def format_value(value: object) -> str:
    """Return the infotext text of one parameter value, before quoting.

    Integer-valued floats lose their ``.0`` (``7.0`` -> ``"7"``, ``7.5`` -> ``"7.5"``), booleans and
    other scalars use ``str()``, and dicts/lists are JSON-encoded.
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
        return str(value) if isinstance(value, float) else repr(number)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def quote(text: str) -> str:
    """JSON-quote ``text`` when the params-line parser could not read it back as is.

    Like A1111's ``quote()`` this quotes values containing ``,``, ``:`` or a newline. It also quotes
    values that start with a quote or a bracket, or that have surrounding whitespace, so that every
    value survives a round trip exactly; A1111 reads those back the same way.
    """
    needs_quoting = (
        any(ch in text for ch in ",:\n\r")
        or text[:1] in ('"', "[", "{")
        or text != text.strip()
    )
    return json.dumps(text, ensure_ascii=False) if needs_quoting else text


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not re.fullmatch(r"\w[\w \-./()+]*", key) or key != key.strip():
        raise ValueError(f"invalid infotext key: {key!r}")


def format_params_line(params: dict[str, object]) -> str:
    """Return the ``key: value, key: value`` line for ``params``, skipping None and "" values."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        text = format_value(value)
        if text == "":
            continue
        _check_key(key)
        parts.append(f"{key}: {quote(text)}")
    return ", ".join(parts)


def format_infotext(prompt: str, negative_prompt: str, params: dict[str, object]) -> str:
    """Build an A1111 infotext from a prompt, a negative prompt and ordered parameters.

    Args:
        prompt: The positive prompt, written verbatim (it may span several lines).
        negative_prompt: The negative prompt; the ``Negative prompt:`` line is omitted when empty.
        params: Ordered ``label -> value`` pairs using A1111 labels ("Steps", "Sampler",
            "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model", "VAE", ...).
            ``None`` and ``""`` values are skipped; see :func:`format_value` and :func:`quote`.

    Returns:
        The infotext. :func:`parse_infotext` reads it back exactly, as long as the params line
        holds at least :data:`MIN_PARAM_PAIRS` pairs (A1111's rule) and the prompt has no line of
        its own starting with ``Negative prompt:``.

    Raises:
        ValueError: if a key contains characters a params line cannot hold (``:``, ``,``, quotes,
            newlines).
    """
    text = prompt or ""
    if negative_prompt:
        text += ("\n" if text else "") + f"{NEGATIVE_PROMPT_LABEL} {negative_prompt}"
    params_line = format_params_line(params)
    if params_line:
        text += ("\n" if text else "") + params_line
    return text


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def _read_json_value(line: str, pos: int) -> tuple[Any, int] | None:
    """Decode a JSON value at ``line[pos:]`` if a separator or the end of line follows it."""
    try:
        value, end = _JSON_DECODER.raw_decode(line, pos)
    except ValueError:
        return None
    rest = line[end:].lstrip(" \t")
    if rest and not rest.startswith(","):
        return None
    return value, end


def _read_value(line: str, pos: int) -> tuple[str, int]:
    """Read one value starting at ``pos``; return it (unquoted) and the position after it."""
    first = line[pos:pos + 1]
    if first in ('"', "[", "{"):
        decoded = _read_json_value(line, pos)
        if decoded is not None:
            value, end = decoded
            text = value if first == '"' and isinstance(value, str) else line[pos:end]
            return text, end
    end = line.find(",", pos)
    if end < 0:
        end = len(line)
    return line[pos:end].strip(), end


def parse_params_line(line: str) -> dict[str, str]:
    """Parse a ``key: value, key: value`` line into an ordered dict of strings.

    Quoted values are unquoted. Unquoted JSON objects or arrays (``Hashes: {"model": "..."}``,
    ``Civitai resources: [{...}]``) are kept whole as their original text. Segments that are not
    ``key: value`` pairs are skipped; a later duplicate key overrides an earlier one.
    """
    params: dict[str, str] = {}
    pos, length = 0, len(line)
    while pos < length:
        match = _KEY_RE.match(line, pos)
        if match is None:
            # Not a pair: skip to the next separator.
            next_sep = line.find(",", pos)
            pos = length if next_sep < 0 else next_sep + 1
            continue
        key = match.group(1)
        value, pos = _read_value(line, match.end())
        params[key] = value
        next_sep = line.find(",", pos)
        pos = length if next_sep < 0 else next_sep + 1
    return params


def _count_pairs(line: str) -> int:
    return len(parse_params_line(line))


def _split_params_line(text: str) -> tuple[str, str]:
    """Split ``text`` into (body, params line); the params line is "" when there is none."""
    stripped = text.rstrip()
    head, sep, last = stripped.rpartition("\n")
    if _count_pairs(last) >= MIN_PARAM_PAIRS:
        return (head if sep else ""), last.strip()
    return text, ""


def _split_negative(body: str) -> tuple[str, str]:
    """Split the prompt body at the first line that starts with ``Negative prompt:``."""
    match = _NEGATIVE_RE.search(body)
    if match is None:
        return body, ""
    return body[:match.start()], body[match.end():]


def parse_infotext(text: str) -> dict:
    """Parse an A1111 infotext.

    Args:
        text: The infotext. CRLF and CR line ends are read as LF.

    Returns:
        ``{"prompt": str, "negative_prompt": str, "params": dict[str, str]}``. The last line is the
        params line only if it holds at least :data:`MIN_PARAM_PAIRS` ``key: value`` pairs; otherwise
        the whole text is prompt (and negative prompt). The prompt ends before the first line starting
        with ``Negative prompt:``; the negative prompt runs from there to the params line and may span
        several lines. Prompts are returned verbatim (no stripping), so ``format_infotext`` output
        round-trips exactly. Param values are strings, JSON-unquoted.
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    body, params_line = _split_params_line(text)
    prompt, negative = _split_negative(body)
    params = parse_params_line(params_line) if params_line else {}
    return {"prompt": prompt, "negative_prompt": negative, "params": params}


# --------------------------------------------------------------------------------------------------
# Typed view
# --------------------------------------------------------------------------------------------------


def _snake_case(label: str) -> str:
    """``"Hires CFG Scale"`` -> ``"hires_cfg_scale"``."""
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _convert(value: str, kind: type) -> Any:
    if kind is int:
        if re.fullmatch(r"\s*[-+]?\d+\s*", value):
            return int(value)
        # A1111 accepts "20.0" for integer fields; so do we.
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"not an integer: {value!r}")
        return int(number)
    if kind is float:
        return float(value)
    return value


def params_to_typed(params: dict[str, str]) -> dict[str, Any]:
    """Convert infotext params to a dict with snake_case keys and typed well-known values.

    Well-known labels (see :data:`TYPED_KEYS`): ``steps`` (int), ``sampler``, ``scheduler``
    ("Schedule type"), ``cfg_scale`` (float), ``seed`` (int), ``model``, ``model_hash``, ``vae``,
    ``vae_hash``, ``denoising_strength`` (float), ``clip_skip`` (int), ``eta_noise_seed_delta``
    ("ENSD", int), ``variation_seed`` (int), ``variation_seed_strength`` (float), ``refiner``,
    ``refiner_switch_at`` (float), ``hires_upscale`` (float), ``hires_steps`` (int),
    ``hires_upscaler``, ``lora_hashes``, ``ti_hashes``, ``rng``, ``version``.
    ``Size: WxH`` becomes ``width``/``height`` ints and ``Hires resize: WxH`` becomes
    ``hires_width``/``hires_height``. Every other label is kept as a string under its snake_case
    form (``"Hires CFG Scale"`` -> ``hires_cfg_scale``). A well-known value that does not convert
    (``Steps: many``) is left out and logged at debug level.
    """
    typed: dict[str, Any] = {}
    for label, value in params.items():
        if label in _SIZE_KEYS:
            match = _SIZE_RE.match(value)
            if match:
                width_key, height_key = _SIZE_KEYS[label]
                typed[width_key], typed[height_key] = int(match.group(1)), int(match.group(2))
            else:
                logger.debug("unreadable %s value %r", label, value)
            continue
        name, kind = TYPED_KEYS.get(label, (_snake_case(label), str))
        if not name:
            continue
        try:
            typed[name] = _convert(value, kind)
        except (TypeError, ValueError):
            logger.debug("cannot convert infotext %s=%r to %s", label, value, kind.__name__)
    return typed
