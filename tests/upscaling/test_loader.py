"""The ESRGAN-family loader and runner: key layouts, safe loading, tiling, the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.upscaling.helpers import (TINY, old_esrgan_layout, pixels, sample_picture,
                                     save_malicious, save_pth, save_safetensors,
                                     tiny_rrdbnet, tiny_srvgg)
from webui.errors import RequestError
from webui.upscaling.esrgan import (RRDBNet, SRVGGNetCompact, UpscalerLoadError,
                                    load_network)
from webui.upscaling.registry import UpscalerFailed, UpscalerRegistry, scale_from_name
from webui.upscaling.runner import run_network


def _out(net, image, tile=0, overlap=0):
    return pixels(run_network(net, image, "cpu", False, tile, overlap))


def test_every_layout_loads_the_same_network(tmp_path):
    """The original ESRGAN keys (4x-UltraSharp style), Real-ESRGAN's params_ema pickle and a
    .safetensors of the same weights give the same network and the same picture."""
    net = tiny_rrdbnet(seed=3)
    sd = net.state_dict()
    files = [save_pth(old_esrgan_layout(sd), tmp_path / "old.pth"),
             save_pth(sd, tmp_path / "realesrgan.pth", wrap="params_ema"),
             save_safetensors(sd, tmp_path / "new.safetensors"),
             save_safetensors(old_esrgan_layout(sd), tmp_path / "old.safetensors")]
    image = sample_picture()
    want = _out(net, image)
    for path in files:
        loaded = load_network(path)
        assert isinstance(loaded, RRDBNet) and loaded.scale == 4
        assert len(loaded.body) == 2
        assert np.array_equal(_out(loaded, image), want), path.name


@pytest.mark.parametrize("make, cls, scale, size", [
    (lambda: tiny_rrdbnet(num_upsample=2, unshuffle=2), RRDBNet, 2, (96, 80)),  # x2plus
    (lambda: tiny_rrdbnet(num_upsample=1), RRDBNet, 2, (96, 80)),  # old-style 2x
    (lambda: tiny_rrdbnet(num_upsample=3), RRDBNet, 8, (384, 320)),
    (tiny_srvgg, SRVGGNetCompact, 4, (192, 160)),  # realesr-general-x4v3 style
])
def test_shapes_and_scales_are_read_from_the_weights(tmp_path, make, cls, scale, size):
    net = make()
    path = save_safetensors(net.state_dict(), tmp_path / "m.safetensors")
    loaded = load_network(path)
    assert isinstance(loaded, cls) and loaded.scale == scale
    out = run_network(loaded, sample_picture(), "cpu", False, 0, 0)
    assert out.size == size
    if cls is RRDBNet and net.unshuffle == 1:  # and in the original layout too
        old = load_network(save_pth(old_esrgan_layout(net.state_dict(), net.num_upsample),
                                    tmp_path / "old.pth"))
        assert old.scale == scale


def test_pickle_with_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    path = save_malicious(tmp_path / "evil.pth", marker)
    with pytest.raises(UpscalerLoadError, match=r"evil\.pth was refused: .*holds Python code.*weights_only=True"):
        load_network(path)
    assert not marker.exists(), "the pickle's code ran"


@pytest.mark.parametrize("content, message", [
    (b"not a model at all", "cannot be read"),
    (None, "not an ESRGAN-family model"),
])
def test_files_that_are_no_esrgan_are_refused_clearly(tmp_path, content, message):
    if content is None:
        path = save_safetensors({"foo.weight": torch.zeros(2, 2)}, tmp_path / "x.safetensors")
    else:
        path = tmp_path / "x.pth"
        path.write_bytes(content)
    with pytest.raises(UpscalerLoadError, match=message):
        load_network(path)


def test_truncated_safetensors_is_refused(tmp_path):
    path = save_safetensors(tiny_rrdbnet().state_dict(), tmp_path / "t.safetensors")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(UpscalerLoadError, match="t.safetensors cannot be read"):
        load_network(path)


@pytest.mark.parametrize("make", [tiny_rrdbnet, tiny_srvgg,
                                  lambda: tiny_rrdbnet(unshuffle=2)])
def test_tiles_give_the_untiled_picture(make):
    """Tiles with context and blended overlaps: the same picture as one pass, to rounding
    (a 70x54 picture in 24 px tiles: nine tiles, odd sizes at the ends)."""
    net = make()
    image = sample_picture(70, 54)
    whole = _out(net, image)
    tiled = _out(net, image, tile=24, overlap=8)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).max() <= 1
    # without overlap (no context, no blending) the seams show: the overlap is what works
    seams = _out(net, image, tile=24, overlap=0)
    assert np.abs(seams - whole).mean() > np.abs(tiled - whole).mean()


def test_esrgan_output_is_not_lanczos(tmp_path):
    registry = UpscalerRegistry(tmp_path)
    save_pth(old_esrgan_layout(tiny_rrdbnet().state_dict()), tmp_path / "ESRGAN" / f"{TINY}.pth")
    image = sample_picture()
    esrgan = registry.upscale(TINY, image, (192, 160))
    lanczos = registry.upscale("Lanczos", image, (192, 160))
    assert esrgan.size == lanczos.size == (192, 160)
    assert np.abs(pixels(esrgan) - pixels(lanczos)).mean() > 10


def test_registry_names_files_as_a1111_does(tmp_path):
    sd = tiny_rrdbnet().state_dict()
    folder = tmp_path / "ESRGAN"
    save_pth(sd, folder / "RealESRGAN_x4plus.pth", wrap="params_ema")
    save_pth(old_esrgan_layout(sd), folder / "4x-UltraSharp.pth")
    save_safetensors(old_esrgan_layout(sd), folder / "4x-UltraSharp.safetensors")
    save_safetensors(tiny_srvgg().state_dict(), tmp_path / "RealESRGAN" /
                     "realesr-general-x4v3.safetensors")
    (folder / "notes.txt").write_text("not a model")
    registry = UpscalerRegistry(tmp_path)
    assert registry.names() == ["None", "Lanczos", "Nearest", "4x-UltraSharp",
                                "R-ESRGAN 4x+", "R-ESRGAN General 4xV3"]
    # the .safetensors wins over the pickle of the same name
    assert registry.get("4x-UltraSharp").path.suffix == ".safetensors"
    # A1111's name, the file stem, any case
    assert registry.canonical("realesrgan_x4PLUS") == "R-ESRGAN 4x+"
    assert registry.canonical("r-esrgan 4x+") == "R-ESRGAN 4x+"
    with pytest.raises(RequestError, match="unknown upscaler 'ESRGAN_4x'; choose one of: "
                                           "None, Lanczos, Nearest, 4x-UltraSharp"):
        registry.get("ESRGAN_4x")
    assert [scale_from_name(n) for n in ("4x-UltraSharp", "RealESRGAN_x2plus", "1x_DeJPEG",
                                        "realesr-general-x4v3", "weird")] == [4, 2, 1, 4, 4]


def test_size_is_exact_and_a_2x_model_runs_twice_for_4x(tmp_path):
    net = tiny_rrdbnet(num_upsample=1)  # a 2x model
    save_safetensors(net.state_dict(), tmp_path / "ESRGAN" / "2x-Tiny.safetensors")
    registry = UpscalerRegistry(tmp_path)
    image = sample_picture(20, 16)
    assert registry.upscale("2x-Tiny", image, (80, 64)).size == (80, 64)
    assert registry.get("2x-Tiny").scale == 2
    # 1.5x from a 2x model: one pass, then Lanczos down to the size asked
    assert registry.upscale("2x-Tiny", image, (30, 24)).size == (30, 24)
    assert registry.upscale("Nearest", image, (41, 33)).size == (41, 33)
    assert registry.upscale("None", image, (40, 32)).size == (40, 32)


def test_extension_upscalers_are_listed_and_their_failure_is_theirs(tmp_path):
    class Mirror:
        def upscale(self, image, scale):
            size = (round(image.width * scale), round(image.height * scale))
            return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(size)

    class Broken:
        scale = 2

        def upscale(self, image, scale):
            raise RuntimeError("no GPU here")

    registry = UpscalerRegistry(tmp_path)
    registry.sources.append(lambda: {"Mirror": Mirror(), "Broken": Broken()})
    assert registry.names()[-2:] == ["Mirror", "Broken"]
    assert registry.get("Broken").scale == 2
    assert registry.upscale("mirror", sample_picture(), (96, 80)).size == (96, 80)
    with pytest.raises(UpscalerFailed, match="upscaler 'Broken' failed: RuntimeError: no GPU"):
        registry.upscale("Broken", sample_picture(), (96, 80))
    with pytest.raises(ValueError, match="exists already"):
        registry.register(type("L", (), {"name": "lanczos", "scale": 1,
                                         "upscale": lambda self, i, s: i})())


def test_half_precision_path(tmp_path):
    """fp16 (what CUDA runs) gives the float32 picture to rounding; a tile that overflows
    in fp16 is run again in float32 and the network stays fp16 (tried on the CPU here)."""
    save_safetensors(tiny_rrdbnet().state_dict(), tmp_path / "ESRGAN" / f"{TINY}.safetensors")
    image = sample_picture()
    full = UpscalerRegistry(tmp_path).upscale(TINY, image, (192, 160))
    half = UpscalerRegistry(tmp_path, half=True)
    out = half.upscale(TINY, image, (192, 160), tile=16, overlap=4)
    assert next(half.network(half.get(TINY)).parameters()).dtype == torch.float16
    assert np.abs(pixels(out) - pixels(full)).max() <= 2

    class Overflows(torch.nn.Module):
        scale = 2

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest") * self.w
            return up * torch.inf if x.dtype == torch.float16 else up

    net = Overflows().half()
    out = run_network(net, image, "cpu", True, 0, 0)
    assert out.size == (96, 80) and next(net.parameters()).dtype == torch.float16
    assert np.abs(pixels(out) - pixels(image.resize((96, 80), Image.Resampling.NEAREST))).max() <= 1
