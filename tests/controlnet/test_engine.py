"""ControlNet and IP-Adapter units in the engine, on the tiny models: what a user sees in the
pixels, the infotext and the control-map preview."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.helpers import small_request
from webui.controlnet.units import ControlUnit
from webui.engine.img2img import run_img2img
from webui.engine.inpaint import run_inpaint
from webui.engine.txt2img import run_txt2img


@pytest.fixture(scope="module")
def manager(control_models_dir):
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    return ModelManager(ModelRegistry(control_models_dir / "Stable-diffusion"), device="cpu")


def square(size=64, box=(16, 16, 48, 48)) -> Image.Image:
    img = Image.new("RGB", (size, size))
    ImageDraw.Draw(img).rectangle(box, fill="white")
    return img


def circle(size=64) -> Image.Image:
    img = Image.new("RGB", (size, size))
    ImageDraw.Draw(img).ellipse((8, 20, 56, 44), fill="white")
    return img


def run(manager, *units, fn=run_txt2img, **kw):
    result = fn(manager, small_request(control_units=tuple(units), **kw))
    return result


def px(result) -> np.ndarray:
    return np.asarray(result.images[0].image).astype(int)


def unit(image=None, model="tiny-controlnet", **kw) -> ControlUnit:
    return ControlUnit(image=image if image is not None else square(), model=model,
                       module=kw.pop("module", "none"), **kw)


def test_weight_zero_is_no_unit_and_weight_one_acts(manager):
    plain = px(run(manager))
    assert np.array_equal(px(run(manager, unit(weight=0.0))), plain)
    assert np.abs(px(run(manager, unit(weight=1.0))) - plain).mean() > 2


def test_two_control_images_give_two_pictures(manager):
    a = px(run(manager, unit(square())))
    b = px(run(manager, unit(circle())))
    assert np.abs(a - b).mean() > 2


def test_guidance_end_half_differs_from_whole(manager):
    whole = px(run(manager, unit(guidance_end=1.0), steps=4))
    half = px(run(manager, unit(guidance_end=0.5), steps=4))
    plain = px(run(manager, steps=4))
    assert np.abs(whole - half).mean() > 1
    assert np.abs(half - plain).mean() > 1  # the first half still steers


def test_two_units_combine(manager):
    a = unit(square(), model="tiny-controlnet")
    b = unit(circle(), model="tiny-controlnet-file")
    both = px(run(manager, a, b))
    assert np.abs(both - px(run(manager, a))).mean() > 1
    assert np.abs(both - px(run(manager, b))).mean() > 1


def test_control_modes_differ(manager):
    out = {mode: px(run(manager, unit(control_mode=mode)))
           for mode in ("Balanced", "My prompt is more important",
                        "ControlNet is more important")}
    modes = list(out)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(out[modes[i]] - out[modes[j]]).mean() > 0.5, (modes[i], modes[j])


def test_union_model_acts_with_the_control_type_of_its_module(control_models_dir):
    from webui.controlnet.preprocess import none
    from webui.models.manager import ModelManager
    from webui.models.registry import ModelRegistry

    manager = ModelManager(ModelRegistry(control_models_dir / "Stable-diffusion"),
                           device="cpu")
    # a depth preprocessor that passes the image through: same map, other control type
    manager.preprocessors.sources.append(lambda: {"depth_passthrough": none})
    plain = px(run(manager))
    as_lines = px(run(manager, unit(model="tiny-controlnet-union")))
    as_depth = px(run(manager, unit(model="tiny-controlnet-union",
                                    module="depth_passthrough")))
    assert np.abs(as_lines - plain).mean() > 2
    assert np.abs(as_lines - as_depth).mean() > 0.5


def test_ip_adapter_weight_and_reference_image(manager):
    def ip(image, weight=1.0):
        return ControlUnit(image=image, module="ip-adapter_clip_sdxl",
                           model="tiny-ip-adapter", weight=weight)

    plain = px(run(manager))
    assert np.array_equal(px(run(manager, ip(square(), 0.0))), plain)
    a = px(run(manager, ip(square())))
    assert np.abs(a - plain).mean() > 2
    red = Image.new("RGB", (64, 64), (220, 30, 30))
    assert np.abs(a - px(run(manager, ip(red)))).mean() > 1
    # the UNet is back as it was: a plain job afterwards draws the same pixels
    assert np.array_equal(px(run(manager)), plain)


def test_ip_adapter_with_a_controlnet_unit(manager):
    cn = unit()
    ip = ControlUnit(image=circle(), module="ip-adapter_clip_sdxl", model="tiny-ip-adapter")
    both = px(run(manager, cn, ip))
    assert np.abs(both - px(run(manager, cn))).mean() > 1


def test_infotext_records_each_unit_and_the_result_carries_the_maps(manager):
    result = run(manager, unit(module="canny"),
                 unit(circle(), model="tiny-controlnet-file", weight=0.5,
                      resize_mode="Just Resize", guidance_start=0.25, pixel_perfect=True,
                      control_mode="My prompt is more important"))
    params = result.images[0].params
    title = manager.resolve_control_model("tiny-controlnet").title
    assert params["ControlNet 0"] == (
        f"Module: canny, Model: {title}, Weight: 1.0, Resize Mode: Crop and Resize, "
        "Processor Res: 512, Threshold A: 100.0, Threshold B: 200.0, Guidance Start: 0.0, "
        "Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced")
    assert params["ControlNet 1"].startswith("Module: none, Model: tiny-controlnet-file [")
    assert "Processor Res: 64, " in params["ControlNet 1"]  # pixel perfect: 64 px job
    assert "Threshold A" not in params["ControlNet 1"]
    text = result.images[0].infotext
    assert f'ControlNet 0: "Module: canny, Model: {title}, Weight: 1.0' in text
    from webui.metadata.infotext import parse_infotext

    assert parse_infotext(text)["params"]["ControlNet 1"] == params["ControlNet 1"]
    maps = result.control_maps
    assert [m.size for m in maps] == [(64, 64), (64, 64)]
    edges = np.asarray(maps[0].convert("L")).astype(int)
    # the square's outline (canny at 512 px, the map scaled down to the job's 64 px)
    assert edges[20:44, 15:18].max(axis=1).min() > 8 and edges[32, 32] == 0


def test_img2img_unit_without_image_uses_the_init_image(manager):
    init = square().resize((64, 64))
    plain = px(run(manager, fn=run_img2img, init_image=init, mode="img2img",
                   denoising_strength=0.8))
    with_unit = run(manager, ControlUnit(model="tiny-controlnet", module="canny",
                                         pixel_perfect=True),
                    fn=run_img2img, init_image=init, mode="img2img", denoising_strength=0.8)
    assert np.abs(px(with_unit) - plain).mean() > 1
    edges = np.asarray(with_unit.control_maps[0].convert("L"))
    # the init image's square through canny at the job's own 64 px (pixel perfect)
    assert edges[20:44, 14:19].max() == 255 and edges[32, 32] == 0


def test_inpaint_unit_acts_inside_the_mask_only(manager):
    init = Image.new("RGB", (64, 64), (90, 120, 160))
    mask = Image.new("L", (64, 64))
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    kw = dict(fn=run_inpaint, init_image=init, mask=mask, mode="inpaint",
              denoising_strength=1.0, mask_blur=0)
    plain = px(run(manager, **kw))
    controlled = px(run(manager, unit(circle()), **kw))
    assert np.abs(controlled[16:48, 16:48] - plain[16:48, 16:48]).mean() > 1
    assert np.array_equal(controlled[:8], plain[:8])  # far from the mask: the original


def test_hires_fix_runs_the_units_in_both_passes(manager):
    kw = dict(enable_hr=True, hr_scale=1.5, hr_upscaler="Latent", hr_denoising_strength=0.6,
              steps=2)
    plain = run(manager, **kw)
    controlled = run(manager, unit(), **kw)
    assert controlled.images[0].image.size == (96, 96)
    assert np.abs(px(controlled) - px(plain)).mean() > 1
    assert "ControlNet 0" in controlled.images[0].params


def test_a_job_leaves_the_cached_pipeline_as_it_was(manager):
    lm = manager.preload("tiny-sdxl-a")
    procs = {k: type(v) for k, v in lm.pipe.unet.attn_processors.items()}
    run(manager, unit(), ControlUnit(image=square(), module="ip-adapter_clip_sdxl",
                                     model="tiny-ip-adapter"))
    assert {k: type(v) for k, v in lm.pipe.unet.attn_processors.items()} == procs
    assert lm.pipe.unet.encoder_hid_proj is None
    assert lm.pipe.unet.config.encoder_hid_dim_type is None
    assert type(lm.pipe).__name__ == "StableDiffusionXLPipeline"
    assert not hasattr(lm.pipe, "controlnet") or lm.pipe.controlnet is None


@pytest.mark.parametrize("module,model,words", [
    ("ip-adapter_clip_sdxl", "tiny-controlnet", "is for IP-Adapter models"),
    ("canny", "tiny-ip-adapter", "is an IP-Adapter; its module must be"),
    ("no-such-preprocessor", "tiny-controlnet", "unknown preprocessor"),
])
def test_mismatched_module_and_model_is_refused_with_the_reason(manager, module, model, words):
    from webui.errors import RequestError

    with pytest.raises(RequestError, match=words):
        run(manager, ControlUnit(image=square(), module=module, model=model))


def test_inpaint_latent_noise_with_units_is_refused_with_the_reason(manager):
    from webui.errors import RequestError

    mask = Image.new("L", (64, 64))
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    with pytest.raises(RequestError, match="not latent noise"):
        run(manager, unit(), fn=run_inpaint, init_image=square(), mask=mask, mode="inpaint",
            masked_content="latent noise")


def test_ip_adapter_guidance_window_acts(manager):
    def ip(end):
        return ControlUnit(image=square(), module="ip-adapter_clip_h", model="tiny-ip-adapter",
                           guidance_end=end)

    whole, half = px(run(manager, ip(1.0), steps=4)), px(run(manager, ip(0.5), steps=4))
    assert np.abs(whole - half).mean() > 1
    assert np.abs(half - px(run(manager, steps=4))).mean() > 1


def test_resize_modes_fit_the_map_to_the_job_size():
    from webui.controlnet.apply import fit_control_map

    wide = Image.new("RGB", (128, 64), "white")  # a 2:1 map for a square job
    just = np.asarray(fit_control_map(wide, 64, 64, "Just Resize"))
    crop = np.asarray(fit_control_map(wide, 64, 64, "Crop and Resize"))
    fill = np.asarray(fit_control_map(wide, 64, 64, "Resize and Fill"))
    assert just.shape == crop.shape == fill.shape == (64, 64, 3)
    assert just.min() == 255 and crop.min() == 255  # stretched / cropped: all map
    assert fill[:14].max() == 0 and fill[-14:].max() == 0  # fitted: black bands (no control)
    assert fill[20:44].min() == 255


@pytest.mark.parametrize("size,mode,expected", [
    ((512, 256), "Crop and Resize", 256),  # covers 256x256 at scale 1: short side 256
    ((512, 256), "Resize and Fill", 128),  # fits inside at scale 0.5: short side 128
    ((1024, 1024), "Just Resize", 256),
])
def test_pixel_perfect_resolution(size, mode, expected):
    """The processor resolution the map needs for a 256x256 job (sd-webui-controlnet's)."""
    from webui.controlnet.apply import pixel_perfect_resolution

    assert pixel_perfect_resolution(Image.new("RGB", size), 256, 256, mode) == expected
