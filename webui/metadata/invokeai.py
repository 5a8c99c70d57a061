"""InvokeAI: ``invokeai_metadata`` (3.x-6.x), ``sd-metadata`` and ``Dream`` (2.x); parsed with
sd-parsers, gaps (sizes, the InvokeAI 6 model) filled from the same JSON."""

from __future__ import annotations

import re
from typing import Any

from sd_parsers.parsers import InvokeAIParser

from webui.metadata.info import INVOKEAI, GenerationInfo
from webui.metadata.jsonmap import JSON_ALIASES, fill_missing, map_json
from webui.metadata.sdparsers import run_sd_parser
from webui.metadata.values import flatten, load_json


# InvokeAI names the sampler "scheduler".
_INVOKEAI_ALIASES = {**JSON_ALIASES, "sampler": ("scheduler",), "scheduler": ()}


def parse_invokeai(texts: dict[str, str]) -> GenerationInfo | None:
    keys = [key for key in ("invokeai_metadata", "sd-metadata", "Dream") if key in texts]
    if not keys:
        return None
    info = run_sd_parser(InvokeAIParser, texts, INVOKEAI)
    data = load_json(texts.get("invokeai_metadata") or texts.get("sd-metadata"))
    data = data if isinstance(data, dict) else {}
    image_data = data.get("image") if isinstance(data.get("image"), dict) else {}
    if "invokeai_metadata" in texts:
        fill_missing(info, map_json(data, _INVOKEAI_ALIASES))
    else:
        fill_missing(info, map_json({**data, **image_data}))
    if info.width is None and "Dream" in texts:
        fill_missing(info, _dream_size(texts["Dream"]))
    info.params = flatten({key: value for key, value in data.items() if key != "image"})
    info.params.update(flatten(image_data))
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
