"""Guided generation: ControlNet and IP-Adapter units (``units``), their preprocessors, models
and sd-webui-controlnet's API."""
