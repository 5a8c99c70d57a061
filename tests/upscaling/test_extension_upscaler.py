"""An extension's ``ext.register_upscaler(name, obj)`` reaches every upscaler list and door."""

from __future__ import annotations

import textwrap

from tests.upscaling.helpers import sample_picture
from webui.upscaling.extras import ExtrasRequest

EXTENSION = '''
from PIL import Image


class Mirror:
    """Upscale with Nearest and mirror left-right (a change anyone can see)."""

    scale = 2

    def upscale(self, image, scale):
        size = (round(image.width * scale), round(image.height * scale))
        return image.resize(size, Image.Resampling.NEAREST).transpose(
            Image.Transpose.FLIP_LEFT_RIGHT)


def setup(ext):
    ext.register_upscaler("Mirror x2", Mirror())
'''


def test_registered_upscaler_is_listed_and_runs_in_extras(tiny_models_dir, tmp_path):
    from webui.app import create_context
    from webui.config import Settings

    folder = tmp_path / "extensions" / "mirror"
    folder.mkdir(parents=True)
    (folder / "extension.py").write_text(textwrap.dedent(EXTENSION))
    ctx = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=tmp_path / "out",
                                  data_dir=tmp_path / "data", device="cpu",
                                  extensions_dirs=(tmp_path / "extensions",)))
    assert "Mirror x2" in ctx.upscalers.names()
    picture = sample_picture(20, 16)
    result = ctx.extras.run(ExtrasRequest([(picture, None)], scale=2, upscaler_1="mirror x2"))
    out = result.images[0]
    assert out.size == (40, 32)
    assert out.getpixel((0, 0)) == picture.getpixel((19, 0))  # mirrored
    assert result.infotexts == ["Postprocess upscale by: 2, Postprocess upscaler: Mirror x2"]
    assert result.paths[0].is_file()
