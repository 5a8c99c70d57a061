"""NovelAI: ``Software: NovelAI``, or ``Description`` + a ``Comment`` JSON; parsed with sd-parsers,
gaps filled from the Comment JSON."""

from __future__ import annotations

import json

from sd_parsers.parsers import NovelAIParser

from webui.metadata.info import NOVELAI, GenerationInfo
from webui.metadata.jsonmap import fill_missing, map_json
from webui.metadata.sdparsers import run_sd_parser
from webui.metadata.values import flatten, load_json


def is_novelai(texts: dict[str, str]) -> bool:
    if texts.get("Software", "").strip().lower().startswith("novelai"):
        return True
    comment = load_json(texts.get("Comment")) if "Description" in texts else None
    return isinstance(comment, dict) and "uc" in comment


def parse_novelai(texts: dict[str, str]) -> GenerationInfo:
    comment = load_json(texts.get("Comment"))
    comment = comment if isinstance(comment, dict) else {}
    chunks = {
        "Description": texts.get("Description") or comment.get("prompt") or "",
        "Source": texts.get("Source", ""),
        "Comment": texts.get("Comment", "{}"),
    }
    info = run_sd_parser(NovelAIParser, chunks, NOVELAI)
    fields = map_json(comment)
    fields.pop("model", None)  # NovelAI's model lives in "Source", handled by sd-parsers
    fill_missing(info, fields)
    other = {key: value for key, value in texts.items() if key != "Comment" or not comment}
    info.params = {**other, **flatten(comment)}
    info.raw = json.dumps(texts, ensure_ascii=False, indent=2)
    return info
