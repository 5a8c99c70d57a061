"""Upscalers: image resizers and ESRGAN-family models by name (``registry``), the safe
loader of their weights (``esrgan``), tiled running (``tiling``, ``runner``) and the Extras
jobs (``extras``) that the Extras tab and A1111's ``extra-single-image`` /
``extra-batch-images`` routes run."""

from webui.upscaling.registry import Upscaler, UpscalerRegistry

__all__ = ["Upscaler", "UpscalerRegistry"]
