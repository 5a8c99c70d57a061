"""Glue shared by the img2img, inpaint and outpaint tabs: reading uploads and running."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from webui.imaging import open_image
from webui.request import RequestError


def max_pixels(ctx) -> int:
    """The upload size limit (``--max-image-pixels``)."""
    return ctx.settings.limits.max_image_pixels


def read_upload(ctx, source, what: str) -> Image.Image | None:
    """Open an uploaded file (or PIL image) or raise ``gr.Error`` with a plain message."""
    try:
        return open_image(source, max_pixels(ctx), what)
    except RequestError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def not_an_image(what: str, payload) -> str:
    """The message for an upload that is no picture, naming the file as the user chose it."""
    name = (payload or {}).get("orig_name") if isinstance(payload, dict) else None
    return (f"{what}: {name or 'the file'} is not an image this app can read; "
            "choose a PNG, JPEG or WebP picture")


def _plain_errors(component, payload, preprocess):
    """``preprocess(payload)``, a file that is no picture raising ``gr.Error`` in plain words
    (Gradio's own message names component indexes, a temp path and a pydantic type)."""
    try:
        return preprocess(payload)
    except gr.Error:
        raise
    except Exception:  # noqa: BLE001 - PIL raises several types for a non-image
        raise gr.Error(not_an_image(component.label or "image", _as_dict(payload)),
                       print_exception=False) from None


def _as_dict(payload):
    return payload.model_dump() if hasattr(payload, "model_dump") else payload


def readable_uploads(component):
    """``component`` (a ``gr.Image`` or ``gr.ImageMask``) with an unreadable upload refused
    in plain words. Its ``preprocess`` is wrapped on the instance: a subclass would make
    Gradio write a ``.pyi`` stub into our source folder."""
    original = component.preprocess
    component.preprocess = lambda payload: _plain_errors(component, payload, original)
    return component


def size_of_upload(ctx, payload, what: str = "image"):
    """(image, width, height) for an upload event run without preprocessing: the sliders
    follow a picture's size (rounded down to multiples of 8); a file that is no picture is
    cleared from the box with a warning and leaves width and height as they were."""
    limits = ctx.settings.limits
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path:
        return gr.update(), gr.update(), gr.update()
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError):
        gr.Warning(not_an_image(what, payload))
        return None, gr.update(), gr.update()
    fit = lambda v: min(max(v // 8 * 8, limits.min_size), limits.max_size)  # noqa: E731
    return gr.update(), fit(w), fit(h)


def check_uploads(ctx, image, width=None, height=None, what: str = "Image") -> None:
    """A non-image uploaded into ``image`` is cleared with a plain warning; with ``width``
    and ``height``, those follow the size of what is uploaded.

    Runs unpreprocessed (Gradio's own reading of a non-image would fail the event and mark
    width and height "Error") and through the queue (warnings need it) without waiting
    for a running job (no concurrency limit)."""
    sized = width is not None and height is not None

    def on_upload(payload):
        out = size_of_upload(ctx, payload, what)
        return out if sized else out[0]

    image.upload(on_upload, image, [image, width, height] if sized else [image],
                 preprocess=False, api_visibility="private", concurrency_limit=None,
                 show_progress="hidden")
