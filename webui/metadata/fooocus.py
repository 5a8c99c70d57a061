"""Fooocus: a JSON ``parameters`` text (``fooocus_scheme``, or Fooocus's own keys); parsed with
sd-parsers, gaps filled from the same JSON."""

from __future__ import annotations

from sd_parsers.parsers import FooocusParser

from webui.metadata.info import FOOOCUS, GenerationInfo
from webui.metadata.jsonmap import fill_missing, map_json
from webui.metadata.sdparsers import run_sd_parser
from webui.metadata.values import flatten


def is_fooocus(data: dict, texts: dict[str, str]) -> bool:
    if "fooocus_scheme" in texts:
        return True
    version = str(data.get("version", ""))
    return version.lower().startswith("fooocus") or {"base_model", "guidance_scale"} <= data.keys()


def parse_fooocus(text: str, data: dict, texts: dict[str, str]) -> GenerationInfo:
    info = run_sd_parser(FooocusParser, {"parameters": text}, FOOOCUS)
    fill_missing(info, map_json(data))
    info.params = flatten(data)
    if "fooocus_scheme" in texts:
        info.params["fooocus_scheme"] = texts["fooocus_scheme"]
    info.raw = text
    return info
