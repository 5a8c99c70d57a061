"""An app context whose models folder holds the tiny SDXL checkpoint and a tiny ESRGAN."""

from __future__ import annotations

import pytest

from tests.upscaling.helpers import models_with_esrgan


@pytest.fixture(scope="module")
def esrgan_models(tiny_models_dir, tmp_path_factory):
    """A models folder of this module's own: tiny-sdxl-a and ``ESRGAN/4x-TinyESRGAN.pth``."""
    return models_with_esrgan(tiny_models_dir, tmp_path_factory.mktemp("esrgan-models"))


@pytest.fixture
def esrgan_settings(esrgan_models, tmp_path):
    from webui.config import Settings

    return Settings(models_dir=esrgan_models, outputs_dir=tmp_path / "outputs",
                    data_dir=tmp_path / "data", device="cpu")


@pytest.fixture
def esrgan_ctx(esrgan_settings):
    from webui.app import create_context

    return create_context(esrgan_settings)
