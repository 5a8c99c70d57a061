"""Fixtures of the ControlNet / IP-Adapter tests: a models folder with the tiny SDXL
checkpoints plus the tiny ControlNets, IP-Adapter and image encoder (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def control_models_dir(tmp_path_factory) -> Path:
    """A models folder (A1111 layout): tiny checkpoints, ``ControlNet/`` and ``ipadapter/``
    (see webui.testing.tiny_controlnet)."""
    from webui.testing.tiny_controlnet import write_tiny_control_models
    from webui.testing.tiny_models import write_tiny_models

    root = tmp_path_factory.mktemp("control-models")
    write_tiny_models(root)
    write_tiny_control_models(root)
    return root
