"""ControlNet / IP-Adapter models: found, classified, hashed, listed, named, cached, placed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.helpers import small_request
from webui.controlnet.units import ControlUnit
from webui.engine.txt2img import run_txt2img
from webui.errors import RequestError
from webui.models.bundle import JobModels
from webui.models.manager import ModelManager
from webui.models.placement import tensors_off
from webui.models.registry import ModelRegistry, sha256_file

META = torch.device("meta")


def make_manager(models_dir, **kw) -> ModelManager:
    return ModelManager(ModelRegistry(models_dir / "Stable-diffusion"), **{"device": "cpu",
                                                                          **kw})


@pytest.fixture(scope="module")
def manager(control_models_dir):
    return make_manager(control_models_dir)


def test_registry_classifies_by_tensors_and_hashes_like_a1111(manager, control_models_dir):
    listed = {m.name: m for m in manager.control_models()}
    assert {n: m.kind for n, m in listed.items()} == {
        "tiny-controlnet": "controlnet", "tiny-controlnet-file": "controlnet",
        "tiny-controlnet-union": "controlnet-union", "tiny-ip-adapter": "ip-adapter"}
    single = control_models_dir / "ControlNet" / "tiny-controlnet-file.safetensors"
    assert listed["tiny-controlnet-file"].hash == sha256_file(single)[:10]
    folder = control_models_dir / "ControlNet" / "tiny-controlnet"
    assert listed["tiny-controlnet"].hash == sha256_file(
        folder / "diffusion_pytorch_model.safetensors")[:10]
    assert listed["tiny-ip-adapter"].title == f"tiny-ip-adapter [{listed['tiny-ip-adapter'].hash}]"
    # the image encoder's folder is not mistaken for a model, the SD 1.5 one is not offered
    assert "image_encoder" not in " ".join(listed) and "tiny-controlnet-sd15" not in listed


def test_sd15_controlnet_is_listed_with_its_reason_and_refused(manager):
    info = next(m for m in manager.registry.control_scan() if m.name == "tiny-controlnet-sd15")
    assert "SD 1.5" in info.problem and "SDXL only" in info.problem
    with pytest.raises(RequestError, match="tiny-controlnet-sd15.*cannot be used.*SD 1.5"):
        manager.resolve_control_model("tiny-controlnet-sd15")


def test_models_tab_lists_control_models(control_models_dir):
    from types import SimpleNamespace

    from webui.ui.models_tab import model_rows

    rows = model_rows(SimpleNamespace(manager=make_manager(control_models_dir)))
    by_name = {r[0]: r for r in rows}
    assert by_name["tiny-controlnet"][1:3] == ["ControlNet", "controlnet"]
    assert by_name["tiny-controlnet-union"][2] == "controlnet-union"
    assert by_name["tiny-ip-adapter"][1:3] == ["ipadapter", "ip-adapter"]
    assert len(by_name["tiny-controlnet"][5]) == 10  # its short hash
    assert "SD 1.5" in by_name["tiny-controlnet-sd15"][7]


@pytest.mark.parametrize("name", ["tiny-controlnet-file", "TINY-ControlNet-File",
                                  "tiny-controlnet-file.safetensors",
                                  "tiny-controlnet-file [0123456789]"])
def test_a_unit_names_its_model_as_the_extension_does(manager, name):
    model = manager.resolve_control_model(name)
    assert model.name == "tiny-controlnet-file"
    assert manager.resolve_control_model(model.title).title == model.title


def test_unknown_model_names_the_choices(manager):
    with pytest.raises(RequestError) as err:
        manager.resolve_control_model("control_v11p_sd15_canny [d14c016b]")
    message = str(err.value)
    assert "control_v11p_sd15_canny" in message
    for m in manager.control_models():
        assert m.title in message


def test_preprocessors_are_the_managers_and_extendable(manager):
    assert {"none", "canny"} <= set(manager.preprocessors.names())


def test_a_controlnet_switch_does_not_reload_a_cached_model(control_models_dir):
    from tests.controlnet.test_engine import square

    manager = make_manager(control_models_dir)

    def job(model):
        result = run_txt2img(manager, small_request(control_units=(
            ControlUnit(image=square(), model=model),)))
        return np.asarray(result.images[0].image)

    first = job("tiny-controlnet")
    job("tiny-controlnet-file")
    again = job("tiny-controlnet")
    assert manager.control_loads_from_disk == 2
    assert manager.loads_from_disk == 1
    assert np.array_equal(first, again)


def test_control_models_are_evicted_under_the_cache_budget(control_models_dir):
    manager = make_manager(control_models_dir, cache="1GB")
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-controlnet",))) as bundle:
        ckpt = bundle.base.nbytes
        cn = bundle.controls[0].nbytes
    # room for the checkpoint and one ControlNet, not two
    manager.max_bytes = ckpt + cn + cn // 2
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-controlnet-file",))):
        pass
    assert manager.cached_control_names() == ["tiny-controlnet-file"]
    assert manager.cached_names() == ["tiny-sdxl-a"]  # the job's checkpoint stays
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-controlnet",))):
        pass
    assert manager.control_loads_from_disk == 3  # evicted, so read again


def test_job_controlnet_is_on_the_device_and_leaves_per_policy(control_models_dir):
    """On the meta stand-in device: a job's ControlNet and image encoder are on the device
    while it runs; with a budget that holds one job, a job without them moves them off."""
    manager = make_manager(control_models_dir, device="meta", offload="none", cache="12")
    job = JobModels("tiny-sdxl-a", controls=("tiny-controlnet", "tiny-ip-adapter"))
    with manager.prepare(job) as bundle:
        cn = bundle.controls[0].module
        encoder = bundle.image_encoder
        unet = bundle.base.pipe.unet
        for module in (cn, encoder, unet):
            assert not tensors_off(module, META)
        assert unet.encoder_hid_proj is not None  # the IP-Adapter rides on the device too
        assert not tensors_off(unet.encoder_hid_proj, META)
        plain_modules = [m for m in bundle.modules() if m is not cn and m is not encoder]
    assert unet.encoder_hid_proj is None
    # a budget that holds exactly a plain job's modules
    manager.placer.budget = sum(manager.placer._slots[id(m)].nbytes for m in plain_modules)
    assert not tensors_off(unet, torch.device("cpu"))  # taken off to remove the adapter
    with manager.prepare(JobModels("tiny-sdxl-a")) as plain:
        assert all(not tensors_off(m, META) for m in plain.modules())
        assert not tensors_off(cn, torch.device("cpu"))  # the budget needed its room
        assert not tensors_off(encoder, torch.device("cpu"))
    # a roomy budget keeps it there for the next job that uses it: no move
    manager.placer.budget = None
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-controlnet",))):
        moves = manager.placer.moves
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-controlnet",))) as again:
        assert manager.placer.moves == moves
        assert not tensors_off(again.controls[0].module, META)
    assert manager.control_loads_from_disk == 3  # two models and the encoder, read once


def _copy_models(control_models_dir, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(control_models_dir / "Stable-diffusion" / "tiny-sdxl-a",
                    root / "Stable-diffusion" / "tiny-sdxl-a")
    (root / "ControlNet").mkdir()
    return root


def test_bad_single_files_are_refused_with_a_clear_message(control_models_dir, tmp_path):
    root = _copy_models(control_models_dir, tmp_path)
    good = control_models_dir / "ControlNet" / "tiny-controlnet-file.safetensors"
    (root / "ControlNet" / "garbage.safetensors").write_bytes(b"not a model at all")
    data = good.read_bytes()
    (root / "ControlNet" / "cut.safetensors").write_bytes(data[: len(data) // 2])
    # a tiny (not full-size SDXL) ControlNet file without its config beside it
    shutil.copy(good, root / "ControlNet" / "no-config.safetensors")
    manager = make_manager(root)
    problems = {m.name: m.problem for m in manager.registry.control_scan()}
    assert "unreadable" in problems["garbage"]
    assert "truncated" in problems["cut"] and "download it again" in problems["cut"]
    for name, words in (("garbage", "unreadable"), ("cut", "truncated")):
        with pytest.raises(RequestError, match=f"{name}.*cannot be used.*{words}"):
            manager.resolve_control_model(name)
    from webui.models.loader import ModelLoadError

    with pytest.raises(ModelLoadError, match="no-config.safetensors.*config.json"):
        with manager.prepare(JobModels("tiny-sdxl-a", controls=("no-config",))):
            pass
    assert manager.control_loads_from_disk == 0 and not manager.cached_control_names()


def test_ip_adapter_without_its_image_encoder_says_where_it_goes(control_models_dir,
                                                                  tmp_path):
    root = _copy_models(control_models_dir, tmp_path)
    (root / "ipadapter").mkdir()
    shutil.copy(control_models_dir / "ipadapter" / "tiny-ip-adapter.safetensors",
                root / "ipadapter")
    manager = make_manager(root)
    with pytest.raises(RequestError, match="image encoder.*ipadapter/image_encoder"):
        with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-ip-adapter",))):
            pass
    # found in clip_vision/<name>/ as well
    shutil.copytree(control_models_dir / "ipadapter" / "image_encoder",
                    root / "clip_vision" / "CLIP-ViT-tiny")
    with manager.prepare(JobModels("tiny-sdxl-a", controls=("tiny-ip-adapter",))) as b:
        assert b.image_encoder is not None


def test_app_context_makes_the_folders(settings):
    from webui.app import create_context

    create_context(settings)
    assert (settings.models_dir / "ControlNet").is_dir()
    assert (settings.models_dir / "ipadapter").is_dir()


def test_ip_adapter_bin_is_read_without_running_code_and_draws_as_its_safetensors(
        control_models_dir, tmp_path):
    from safetensors.torch import load_file

    from tests.controlnet.test_engine import square
    from webui.models.control_kinds import nest

    root = _copy_models(control_models_dir, tmp_path)
    shutil.copytree(control_models_dir / "ipadapter", root / "ipadapter")
    sd = nest(load_file(str(root / "ipadapter" / "tiny-ip-adapter.safetensors")))
    torch.save(sd, root / "ipadapter" / "tiny-ip-adapter-bin.bin")
    manager = make_manager(root)
    assert manager.resolve_control_model("tiny-ip-adapter-bin.bin").kind == "ip-adapter"

    def job(model):
        unit = ControlUnit(image=square(), module="ip-adapter_clip_h", model=model)
        return np.asarray(run_txt2img(manager, small_request(control_units=(unit,)))
                          .images[0].image)

    assert np.array_equal(job("tiny-ip-adapter-bin"), job("tiny-ip-adapter"))
