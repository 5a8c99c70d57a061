"""Preprocessors beyond none/canny, as the app offers them: ``depth`` while a transformers depth
model is in the models folder (a tiny random Depth Anything built here), an extension's
``register_preprocessor``, and canny's edges of a square."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.controlnet.depth import DepthSource, find_depth_models
from webui.controlnet.preprocess import Preprocessors
from webui.errors import RequestError


def write_tiny_depth_model(folder: Path) -> Path:
    """A random Depth Anything (DINOv2 backbone) of a few kB with its image processor,
    saved as a transformers folder: what a real depth model folder looks like."""
    import torch
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation,
                              Dinov2Config, DPTImageProcessor)

    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                            intermediate_size=32, patch_size=14, image_size=56,
                            out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16,
                                 patch_size=14, neck_hidden_sizes=[8, 8, 16, 16],
                                 fusion_hidden_size=8, head_hidden_size=8)
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True,
                      ensure_multiple_of=14).save_pretrained(folder)
    return folder


def square(size=(80, 64)) -> Image.Image:
    img = Image.new("RGB", size, "black")
    ImageDraw.Draw(img).rectangle((20, 16, 59, 47), fill="white")
    return img


@pytest.fixture(scope="module")
def depth_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("depth-models")
    write_tiny_depth_model(root / "ControlNet" / "annotators" / "tiny-depth-anything")
    return root


def test_depth_is_listed_when_a_depth_model_is_installed_and_maps_at_the_resolution(
        depth_models):
    pre = Preprocessors([DepthSource(depth_models)])
    assert pre.names() == ["none", "canny", "depth"]
    assert pre.canonical("DEPTH") == "depth"
    picture = square()
    out = pre.run("depth", picture, resolution=64)
    assert out.mode == "RGB" and out.size == (80, 64)  # short side at the resolution
    values = np.asarray(out)
    assert (values[..., 0] == values[..., 1]).all()  # a grey map
    assert values.min() == 0 and values.max() == 255  # stretched near..far
    assert pre.run("depth", picture, resolution=128).size == (160, 128)


def test_no_depth_model_no_depth(tmp_path):
    (tmp_path / "ControlNet" / "annotators" / "not-depth").mkdir(parents=True)
    folder = tmp_path / "ControlNet" / "annotators" / "not-depth"
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "preprocessor_config.json").write_text("{}")
    pre = Preprocessors([DepthSource(tmp_path)])
    assert pre.names() == ["none", "canny"]
    with pytest.raises(RequestError, match="unknown preprocessor 'depth'; choose one of: "
                                           "none, canny"):
        pre.run("depth", square())


def test_models_depth_folder_is_found_too(depth_models, tmp_path):
    import shutil

    shutil.copytree(depth_models / "ControlNet" / "annotators" / "tiny-depth-anything",
                    tmp_path / "depth" / "my-depth")
    assert find_depth_models(tmp_path) == [tmp_path / "depth" / "my-depth"]
    assert "depth" in Preprocessors([DepthSource(tmp_path)]).names()


EXTENSION = '''
import numpy as np
from PIL import Image, ImageOps


def invert(image, **params):
    """White lines on black -> black on white, at the asked resolution."""
    size = params["resolution"]
    return ImageOps.invert(image.convert("RGB").resize((size, size)))


def first_channel(image):  # takes no parameters; answers an array
    return np.asarray(image.convert("RGB"))[:, :, 0]


def setup(ext):
    ext.register_preprocessor("invert", invert)
    ext.register_preprocessor("red_channel", first_channel)
'''


def test_an_extension_preprocessor_is_listed_and_runs_in_the_app(control_models_dir,
                                                                 tmp_path):
    """Through the app's own wiring (webui.app): the manager's preprocessors list the
    extension's, and /controlnet-style runs reach them with the parameters they name."""
    from webui.app import create_context
    from webui.config import Settings

    folder = tmp_path / "extensions" / "annotators"
    folder.mkdir(parents=True)
    (folder / "extension.py").write_text(textwrap.dedent(EXTENSION))
    ctx = create_context(Settings(models_dir=control_models_dir, outputs_dir=tmp_path / "out",
                                  data_dir=tmp_path / "data", device="cpu",
                                  extensions_dirs=(tmp_path / "extensions",)))
    pre = ctx.manager.preprocessors
    assert {"none", "canny", "invert", "red_channel"} <= set(pre.names())
    assert "depth" not in pre.names()  # no depth model in this models folder
    out = pre.run("invert", square(), resolution=48)
    assert out.size == (48, 48) and out.getpixel((0, 0)) == (255, 255, 255)
    red = pre.run("red_channel", Image.new("RGB", (8, 8), (200, 10, 10)))
    assert red.getpixel((3, 3)) == (200, 200, 200)


def test_canny_draws_the_square_outline():
    edges = np.asarray(Preprocessors().run("canny", square(), resolution=64))[..., 0]
    assert edges.shape == (64, 80)
    rows, cols = np.nonzero(edges)
    # edges around the square, nothing in its middle nor far outside it
    assert 14 <= rows.min() <= 18 and 45 <= rows.max() <= 49
    assert 18 <= cols.min() <= 22 and 57 <= cols.max() <= 61
    assert edges[30, 40] == 0 and edges[2, 2] == 0


def test_canny_parts_two_colours_of_one_grey():
    """The demo model's red on its blue (greys 87 and 69) still makes edges: the colour
    picture goes to OpenCV, as sd-webui-controlnet sends it; a grey conversion first found
    no edge at 100/200 for 12 of the demo model's 56 colour pairs."""
    pic = Image.new("RGB", (64, 64), (30, 60, 220))
    ImageDraw.Draw(pic).rectangle([16, 16, 47, 47], fill=(220, 30, 30))
    grey = np.asarray(pic.convert("L"))
    assert abs(int(grey[32, 32]) - int(grey[2, 2])) < 20  # close greys: the hard case
    edges = np.asarray(Preprocessors().run("canny", pic, resolution=64))[..., 0]
    rows, cols = np.nonzero(edges)
    assert len(rows) > 60
    assert 14 <= rows.min() <= 18 and 45 <= rows.max() <= 49
