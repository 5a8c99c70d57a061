"""What the engine returns: images with the parameters that actually made them."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from webui import __version__
from webui.request import GenerationRequest


@dataclass
class GeneratedImage:
    """One image and the parameters that made it."""

    image: Image.Image
    seed: int
    infotext: str
    params: dict  # A1111 infotext keys -> values
    latents: object = None  # the sampler's final latents (1, 4, h/8, w/8) on the CPU
    # set when it is saved (webui.history.store), ``image`` being then the picture saved:
    # what the output filter did ("blurred: LABEL 0.83"; "" when nothing was flagged) and
    # what its caller should hear ("not watermarked: under 256 px wide ...")
    filtered: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class GenerationResult:
    """What a job produced; ``interrupted`` when Stop cut it short."""

    request: GenerationRequest
    images: list[GeneratedImage] = field(default_factory=list)
    model_name: str = ""
    model_hash: str = ""
    seed: int = 0
    duration: float = 0.0
    interrupted: bool = False
    # each ControlNet unit's preprocessed control map (IP-Adapter units: the reference
    # image), in unit order, for the UI's and the API's preview
    control_maps: list[Image.Image] = field(default_factory=list)


def fmt_number(x: float) -> str:
    """7.0 -> '7', 0.75 -> '0.75' (A1111 writes numbers without a trailing .0)."""
    return f"{x:g}"


def base_params(req: GenerationRequest, seed: int, model_name: str, model_hash: str,
                batch_pos: int, width: int | None = None, height: int | None = None) -> dict:
    """The A1111 parameters every mode writes, in A1111's key order (without ``Version``).

    Modes append their own keys (``Denoising strength``, ``Mask blur``, ...) and then call
    :func:`finish_params`.
    """
    params = {
        "Steps": req.steps,
        "Sampler": req.sampler,
    }
    # A1111 1.9+ writes the schedule apart; Automatic is left out, so the sampler name alone
    # means what it meant before (and what older readers take it for)
    if req.scheduler != "Automatic":
        params["Schedule type"] = req.scheduler
    params.update({
        "CFG scale": fmt_number(req.cfg_scale),
        "Seed": seed,
        "Size": f"{width or req.width}x{height or req.height}",
        "Model hash": model_hash,
        "Model": model_name,
    })
    if req.clip_skip != 1:  # as A1111: only when not the default
        params["Clip skip"] = req.clip_skip
    if req.batch_size > 1:
        params["Batch size"] = req.batch_size
        params["Batch pos"] = batch_pos
    return params


def finish_params(params: dict) -> dict:
    """Append the keys A1111 writes last."""
    params["Version"] = f"sdxl-webui {__version__}"
    return params
