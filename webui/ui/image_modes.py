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


def size_of_upload(ctx, path):
    """Width/height sliders follow an uploaded image (rounded down to multiples of 8)."""
    limits = ctx.settings.limits
    if not path:
        return gr.update(), gr.update()
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError):
        return gr.update(), gr.update()
    fit = lambda v: min(max(v // 8 * 8, limits.min_size), limits.max_size)  # noqa: E731
    return fit(w), fit(h)
