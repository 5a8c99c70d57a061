"""A unit's model and module names checked against what is installed (``validate`` with the
app's model manager, as the job runner calls it): canonical titles, any case, bare names,
IP-Adapter modules only for IP-Adapter models, and refusals naming the choices."""

from __future__ import annotations

import pytest
from PIL import Image

from webui.controlnet.units import ControlUnit
from webui.errors import RequestError
from webui.request import GenerationRequest, validate

PICTURE = Image.new("RGB", (64, 64), "gray")


@pytest.fixture(scope="module")
def ctx(control_models_dir, tmp_path_factory):
    from webui.app import create_context
    from webui.config import Settings

    work = tmp_path_factory.mktemp("cn-names")
    return create_context(Settings(models_dir=control_models_dir, outputs_dir=work / "o",
                                   data_dir=work / "d", device="cpu"))


def checked(ctx, **unit) -> ControlUnit:
    req = GenerationRequest(prompt="p", width=64, height=64, model="tiny-sdxl-a",
                            control_units=(ControlUnit(image=PICTURE, **unit),))
    (out,) = validate(req, ctx.settings.limits, controls=ctx.manager).control_units
    return out


def title(ctx, name: str) -> str:
    return {m.name: m.title for m in ctx.manager.control_models()}[name]


@pytest.mark.parametrize("written", ["tiny-controlnet", "TINY-CONTROLNET",
                                     "tiny-controlnet [0123456789]", "title"])
def test_model_names_become_the_listed_title(ctx, written):
    canonical = title(ctx, "tiny-controlnet")
    out = checked(ctx, model=canonical if written == "title" else written, module="CANNY")
    assert out.model == canonical and out.module == "canny"


def test_ip_adapter_takes_ip_adapter_modules_or_none(ctx):
    ip = title(ctx, "tiny-ip-adapter")
    assert checked(ctx, model=ip, module="IP-Adapter_Clip_H").module == "ip-adapter_clip_h"
    assert checked(ctx, model="tiny-ip-adapter", module="None").module == "none"
    with pytest.raises(RequestError, match="is an IP-Adapter; its module must be one of: "
                                           "ip-adapter-auto, ip-adapter_clip_g"):
        checked(ctx, model=ip, module="canny")
    with pytest.raises(RequestError, match="FaceID IP-Adapters .* are not supported"):
        checked(ctx, model=ip, module="ip-adapter_face_id_plus")


def test_controlnet_refuses_ip_adapter_modules(ctx):
    with pytest.raises(RequestError, match="ControlNet unit 0: module 'ip-adapter_clip_g' is "
                                           "for IP-Adapter models.*choose one of: none, canny"):
        checked(ctx, model="tiny-controlnet", module="ip-adapter_clip_g")


def test_unknown_names_are_refused_naming_the_choices(ctx):
    with pytest.raises(RequestError) as err:
        checked(ctx, model="no-such-model", module="canny")
    for name in ("tiny-controlnet", "tiny-controlnet-union", "tiny-ip-adapter"):
        assert title(ctx, name) in str(err.value)
    assert str(err.value).startswith("ControlNet unit 0: ")
    with pytest.raises(RequestError, match="ControlNet unit 0: unknown preprocessor 'hed'; "
                                           "choose one of: none, canny"):
        checked(ctx, model="tiny-controlnet", module="hed")


def test_sd15_controlnet_is_refused_with_its_reason(ctx):
    with pytest.raises(RequestError, match="ControlNet unit 0: .*tiny-controlnet-sd15.*SD 1.5"):
        checked(ctx, model="tiny-controlnet-sd15", module="canny")


def test_without_controls_only_the_values_are_checked(ctx):
    req = GenerationRequest(prompt="p", width=64, height=64, control_units=(
        ControlUnit(image=PICTURE, model="anything", module="whatever"),))
    (unit,) = validate(req, ctx.settings.limits).control_units
    assert (unit.model, unit.module) == ("anything", "whatever")
