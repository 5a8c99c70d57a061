"""SDXL web UI: a Gradio front end and HTTP API over one diffusers engine."""

__version__ = "0.1.0"
