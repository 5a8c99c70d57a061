"""The A1111 family: an infotext written by AUTOMATIC1111, Forge (also reForge, Forge classic),
SD.Next, Civitai, Stability Matrix or ComfyUI's SaveImageWithMetaData node; which one wrote it is
told from the params and the image's other texts."""

from __future__ import annotations

import re

from webui.metadata.info import (
    A1111,
    CIVITAI,
    COMFYUI,
    FORGE,
    SDNEXT,
    STABILITY_MATRIX,
    UNKNOWN,
    GenerationInfo,
)
from webui.metadata.infotext import params_to_typed, parse_infotext
from webui.metadata.values import load_json


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
    if isinstance(load_json(texts.get("prompt")), dict):
        return COMFYUI  # e.g. ComfyUI-SaveImageWithMetaData: infotext plus the graph
    if params:
        return A1111
    return UNKNOWN


def _civitai_checkpoint(params: dict[str, str]) -> str | None:
    resources = load_json(params.get("Civitai resources"))
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
