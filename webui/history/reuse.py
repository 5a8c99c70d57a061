"""Reuse a history entry: its parameters as tab fields, or a request to run it again."""

from __future__ import annotations

import random


#: the tabs an entry (or a PNG Info result) can be sent to
SEND_TARGETS = ("txt2img", "img2img", "inpaint", "outpaint")


def fields_from_record(row, image_path: str | None = None) -> dict:
    """The generation fields of a record, keyed like ``GenerationRequest`` attributes."""
    return {
        "prompt": row.prompt, "negative_prompt": row.negative_prompt,
        "width": row.width, "height": row.height, "steps": row.steps or 20,
        "cfg_scale": row.cfg_scale or 7.0, "seed": row.seed, "sampler": row.sampler or None,
        "model": row.model_name or None, "mode": row.mode, "image": image_path,
    }


def fields_from_info(info, image_path: str | None = None) -> dict:
    """The same fields from a PNG Info :class:`~webui.metadata.info.GenerationInfo`."""
    return {
        "prompt": info.prompt, "negative_prompt": info.negative_prompt,
        "width": info.width, "height": info.height, "steps": info.steps,
        "cfg_scale": info.cfg_scale, "seed": info.seed, "sampler": info.sampler,
        "model": info.model, "mode": None, "image": image_path,
    }


def request_from_record(row, vary_seed: bool = False):
    """A txt2img request repeating ``row`` (same seed, or a new random one when varying).

    Records of other modes need their input image and mask, which the history does not
    keep: those raise ``ValueError`` (send them to their tab instead).
    """
    from webui.request import RANDOM_SEED_MAX, GenerationRequest

    if row.mode != "txt2img":
        raise ValueError(f"re-run works for txt2img images; send this {row.mode} image to "
                         "its tab instead")
    seed = random.randint(0, RANDOM_SEED_MAX) if vary_seed else row.seed
    params = row.params or {}
    return GenerationRequest(
        prompt=row.prompt, negative_prompt=row.negative_prompt, width=row.width,
        height=row.height, steps=row.steps, cfg_scale=row.cfg_scale, seed=seed,
        sampler=row.sampler, model=row.model_name or None, mode="txt2img",
        # the schedule type and clip skip are in the full parameter set (A1111 infotext keys)
        scheduler=params.get("Schedule type") or "Automatic",
        clip_skip=int(params.get("Clip skip") or 1))
