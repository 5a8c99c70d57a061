"""SwarmUI: a JSON ``parameters`` text with ``sui_image_params`` (and ``sui_models`` for hashes)."""

from __future__ import annotations

from webui.metadata.info import SWARMUI, GenerationInfo
from webui.metadata.jsonmap import fill_missing, map_json
from webui.metadata.values import flatten, scalar_text, to_str


def parse_swarmui(text: str, data: dict) -> GenerationInfo:
    image_params = data.get("sui_image_params")
    image_params = image_params if isinstance(image_params, dict) else {}
    info = fill_missing(GenerationInfo(source=SWARMUI), map_json(image_params))
    info.model_hash = None  # SwarmUI keeps hashes in sui_models
    for model in data.get("sui_models") or []:
        if isinstance(model, dict) and model.get("param") == "model":
            info.model_hash = to_str(model.get("hash"))
    for section, value in data.items():
        if isinstance(value, dict):
            info.params.update(flatten(value))
        else:
            info.params[section] = scalar_text(value)
    info.raw = text
    return info
