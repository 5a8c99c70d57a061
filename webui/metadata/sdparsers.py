"""Glue to the ``sd-parsers`` library, whose parser classes read Fooocus, NovelAI and InvokeAI.

The parser classes are called directly, not through its ``ParserManager``, whose extractors cache
results in module globals keyed by ``id(image)``."""

from __future__ import annotations

import logging
from typing import Any

from sd_parsers.data import PromptInfo

from webui.metadata.info import GenerationInfo
from webui.metadata.values import to_float, to_int, to_str

logger = logging.getLogger(__name__)


def _info_from_prompt_info(result: PromptInfo, source: str) -> GenerationInfo:
    """Typed fields of an sd-parsers result (first sampler; prompts joined with ", ")."""
    info = GenerationInfo(source=source)
    info.prompt = ", ".join(str(prompt) for prompt in result.prompts)
    info.negative_prompt = ", ".join(str(prompt) for prompt in result.negative_prompts)
    if not result.samplers:
        return info
    sampler = result.samplers[0]
    parameters = sampler.parameters
    info.sampler = to_str(sampler.name)
    info.scheduler = to_str(parameters.get("scheduler"))
    info.steps = to_int(parameters.get("steps"))
    info.cfg_scale = to_float(parameters.get("cfg_scale"))
    info.seed = to_int(parameters.get("seed"))
    if sampler.model is not None:
        info.model = to_str(sampler.model.name)
        info.model_hash = to_str(sampler.model.hash)
    return info


def run_sd_parser(parser_class: type, chunks: dict[str, Any], source: str) -> GenerationInfo:
    """Run one sd-parsers parser; on failure return an empty GenerationInfo of ``source``."""
    try:
        return _info_from_prompt_info(parser_class().parse(dict(chunks)), source)
    except Exception:
        logger.debug("sd-parsers %s could not parse the metadata", parser_class.__name__,
                     exc_info=True)
        return GenerationInfo(source=source)
