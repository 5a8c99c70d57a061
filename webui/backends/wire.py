"""What travels between the app and a remote worker: a request in, image bytes and
parameters out.

The request goes as itself (a frozen dataclass; its PIL images pickle losslessly), minus
what only the app uses: scripts run in the app (each of their pictures is a request of its
own) and always-on script arguments are models of extension modules a worker may not have.
A result comes back as PNG bytes (lossless) with the seed, infotext and parameters of each
image; the app rebuilds a ``GenerationResult`` around its own request and records it.
"""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from webui.engine.result import GeneratedImage, GenerationResult
from webui.request import GenerationRequest


def request_to_wire(req: GenerationRequest) -> GenerationRequest:
    """The part of ``req`` a worker runs (the engine reads nothing it leaves out)."""
    return replace(req, script=None, script_args=None, alwayson_scripts={})


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)  # lossless; fast over the wire's few KB-MB
    return buf.getvalue()


def from_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def result_to_wire(result: GenerationResult) -> dict:
    """Plain data: image bytes and parameters (no tensors, no PIL objects)."""
    return {
        "images": [{"png": png_bytes(g.image), "seed": g.seed, "infotext": g.infotext,
                    "params": dict(g.params)} for g in result.images],
        "model_name": result.model_name, "model_hash": result.model_hash,
        "seed": result.seed, "duration": result.duration, "interrupted": result.interrupted,
        "notices": tuple(result.request.notices),
    }


def result_from_wire(data: dict, req: GenerationRequest) -> GenerationResult:
    """The ``GenerationResult`` of ``req`` (the app's own request, with the worker's
    notices) from what ``result_to_wire`` sent."""
    if tuple(data.get("notices") or ()) != tuple(req.notices):
        req = replace(req, notices=tuple(data["notices"]))
    return GenerationResult(
        req, images=[GeneratedImage(from_png(g["png"]), g["seed"], g["infotext"], g["params"])
                     for g in data["images"]],
        model_name=data["model_name"], model_hash=data["model_hash"], seed=data["seed"],
        duration=data["duration"], interrupted=data["interrupted"])
