"""Generic JSON mapping: typed :class:`GenerationInfo` fields from a JSON object under the key names
tools commonly use (SwarmUI, unknown JSON, and gaps left by sd-parsers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from webui.metadata.info import GenerationInfo
from webui.metadata.values import parse_size, to_float, to_int, to_str


JSON_ALIASES: dict[str, tuple[str, ...]] = {
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
        return to_str(name), to_str(value.get("hash"))
    return to_str(value), None


def map_json(data: dict, aliases: dict[str, tuple[str, ...]] = JSON_ALIASES) -> dict[str, Any]:
    """Typed GenerationInfo fields found in a flat JSON object under common key names."""
    fields: dict[str, Any] = {}

    def get(name: str) -> Any:
        return _first(data, aliases[name])

    for name in ("prompt", "negative_prompt"):
        value = get(name)
        fields[name] = value if isinstance(value, str) else None
    fields["steps"] = to_int(get("steps"))
    fields["sampler"] = to_str(get("sampler"))
    fields["scheduler"] = to_str(get("scheduler"))
    fields["cfg_scale"] = to_float(get("cfg_scale"))
    fields["seed"] = to_int(get("seed"))
    fields["width"], fields["height"] = to_int(get("width")), to_int(get("height"))
    size = parse_size(get("size"))
    if size and (fields["width"] is None or fields["height"] is None):
        fields["width"], fields["height"] = size
    model, model_hash = _model_fields(get("model"))
    fields["model"] = model
    fields["model_hash"] = to_str(get("model_hash")) or model_hash
    return fields


def fill_missing(info: GenerationInfo, fields: dict[str, Any]) -> GenerationInfo:
    """Set every still-empty field of ``info`` that ``fields`` has a value for."""
    for name, value in fields.items():
        if value in (None, ""):
            continue
        if getattr(info, name) in (None, ""):
            setattr(info, name, value)
    return info
