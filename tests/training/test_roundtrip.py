"""Train on the model manager's own pipeline, save, load back: the file is kohya-style with
ss_*/modelspec.* metadata, the app's LoRA loader and diffusers' ``load_lora_weights`` give the
in-memory adapter's output, and the pipeline is left exactly as it was."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.helpers import small_request
from tests.training.helpers import assert_same, models_copy, pattern, snapshot
from webui.engine.txt2img import run_txt2img
from webui.errors import RequestError
from webui.metadata.infotext import parse_infotext
from webui.models.manager import JobModels, ModelManager
from webui.models.registry import LORA, ModelRegistry, read_safetensors_header
from webui.training import lora_file
from webui.training.guard import tuner_layers
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining, txt2img_latents

PROMPT = "a photo of ohwx person"
NAME = "my-subject"


@pytest.fixture(scope="module")
def trained(tiny_models_dir, tmp_path_factory):
    """One short run (text encoders and LoCon on) on the manager's pipeline, saved."""
    root = models_copy(tiny_models_dir, tmp_path_factory.mktemp("train-models"))
    registry = ModelRegistry(root / "Stable-diffusion")
    manager = ModelManager(registry, device="cpu")
    spec = validate_spec(TrainingSpec(
        name=NAME, images=(pattern(0), pattern(1, 96, 64), pattern(2)), steps=6, rank=4,
        alpha=2, conv_rank=2, conv_alpha=1, resolution=64, learning_rate=1e-2,
        train_text_encoders=True, seed=5), registry.lora_dir)
    steps = []
    # as the app will: the checkpoint held (and placed) by the manager for the whole run
    with manager.prepare(JobModels("tiny-sdxl-a")) as bundle:
        pipe = bundle.base.pipe
        base_before = txt2img_latents(pipe, PROMPT, 7, 4, 64)
        before = snapshot(pipe)
        with LoraTraining(pipe, spec, root.parent / "state") as run:
            outcome = run.train(progress=lambda s, t, loss: steps.append((s, t, loss)))
            in_memory = run.sample_latents(PROMPT, 7, steps=4, size=64)
            path = run.save(registry.lora_dir, outcome, base_name="tiny-sdxl-a",
                            base_sha256=registry.sha256(registry.get("tiny-sdxl-a")))
    return dict(manager=manager, registry=registry, pipe=pipe, spec=spec, path=path,
                outcome=outcome, steps=steps, run=run, before=before, root=root,
                base_before=base_before, in_memory=in_memory)


def test_progress_and_outcome(trained):
    assert [s for s, _, _ in trained["steps"]] == list(range(1, 7))
    assert all(t == 6 and np.isfinite(loss) for _, t, loss in trained["steps"])
    assert trained["outcome"].done and not trained["outcome"].stopped


def test_pipeline_is_left_as_it_was(trained):
    pipe = trained["pipe"]
    assert trained["run"].changes() == {}
    assert_same(trained["before"], snapshot(pipe))
    for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
        module = getattr(pipe, name)
        assert not tuner_layers(module), f"{name} still carries LoRA layers"
        assert not module.training
    assert torch.equal(txt2img_latents(pipe, PROMPT, 7, 4, 64), trained["base_before"])
    assert not (trained["in_memory"] - trained["base_before"]).abs().max() < 1e-3  # it learned


def test_file_is_kohya_with_true_alphas_and_metadata(trained):
    path = trained["path"]
    assert path == trained["registry"].lora_dir / f"{NAME}.safetensors"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    header = read_safetensors_header(path)
    meta = header.pop("__metadata__")
    keys = list(header)
    assert all(k.startswith(("lora_unet_", "lora_te1_", "lora_te2_")) for k in keys)
    assert {k.split("_")[1] for k in keys} == {"unet", "te1", "te2"}
    unet = [k for k in keys if k.startswith("lora_unet_")]
    assert any("_input_blocks_" in k for k in unet) and any("_output_blocks_" in k for k in unet)
    assert any("_middle_block_1_" in k for k in unet) and any("_in_layers_2" in k for k in unet)
    assert not any("down_blocks" in k or "up_blocks" in k for k in unet)  # SGM names only
    from safetensors.torch import load_file

    tensors = load_file(path)
    for key in keys:
        if key.endswith(".lora_down.weight"):
            alpha = tensors[key[:-len("lora_down.weight")] + "alpha"]
            conv3 = tensors[key].ndim == 4 and tensors[key].shape[-1] > 1
            assert float(alpha) == (1.0 if conv3 else 2.0), key
    assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] == "2"
    assert json.loads(meta["ss_network_args"]) == {"conv_dim": "2", "conv_alpha": "1"}
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0"
    assert meta["ss_sd_model_name"] == "tiny-sdxl-a" and len(meta["ss_new_sd_model_hash"]) == 64
    assert meta["ss_max_train_steps"] == meta["ss_steps"] == "6"
    assert meta["ss_learning_rate"] == "0.01" and meta["ss_seed"] == "5"
    assert meta["ss_resolution"] == "(64, 64)" and meta["ss_num_train_images"] == "3"
    freq = json.loads(meta["ss_tag_frequency"])
    assert freq == {"1_ohwx person": {"ohwx": 3, PROMPT: 3}}
    assert meta["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    assert meta["modelspec.trigger_phrase"] == "ohwx" and meta["modelspec.title"] == NAME
    assert meta["modelspec.prediction_type"] == "epsilon"
    registry = trained["registry"]
    info = registry.get(NAME, "Lora")
    assert info.kind == LORA and info.detail == "kohya" and not info.problem
    assert registry.lora_trigger_words(info)[0] == "ohwx"
    assert meta["sshs_model_hash"][:12] == registry.lora_hash(info)


def test_app_lora_loader_gives_the_in_memory_output(trained):
    manager = trained["manager"]
    with manager.prepare(JobModels("tiny-sdxl-a", loras=((NAME, 1.0),))) as bundle:
        loaded = txt2img_latents(bundle.pipes["txt2img"], PROMPT, 7, 4, 64)
    torch.testing.assert_close(loaded, trained["in_memory"], atol=1e-5, rtol=1e-5)
    with manager.prepare(JobModels("tiny-sdxl-a")) as bundle:  # switched off again
        plain = txt2img_latents(bundle.pipes["txt2img"], PROMPT, 7, 4, 64)
    assert torch.equal(plain, trained["base_before"])


def test_diffusers_load_lora_weights_gives_the_in_memory_output(trained):
    from diffusers import StableDiffusionXLPipeline

    fresh = StableDiffusionXLPipeline.from_pretrained(
        trained["root"] / "Stable-diffusion" / "tiny-sdxl-a")
    fresh.set_progress_bar_config(disable=True)
    fresh.load_lora_weights(str(trained["path"]))
    loaded = txt2img_latents(fresh, PROMPT, 7, 4, 64)
    torch.testing.assert_close(loaded, trained["in_memory"], atol=1e-5, rtol=1e-5)


def test_lora_tag_through_the_engine(trained):
    manager = trained["manager"]
    tagged = run_txt2img(manager, small_request(prompt=f"{PROMPT} <lora:{NAME}:1>", width=64))
    plain = run_txt2img(manager, small_request(prompt=PROMPT, width=64))
    a = np.asarray(tagged.images[0].image, dtype=np.int16)
    b = np.asarray(plain.images[0].image, dtype=np.int16)
    assert np.abs(a - b).mean() > 1
    hashes = parse_infotext(tagged.images[0].infotext)["params"]["Lora hashes"]
    assert hashes == f"{NAME}: {trained['registry'].lora_hash(trained['registry'].get(NAME, 'Lora'))}"
    assert NAME in manager.lora_names()


def test_writing_never_overwrites_nor_leaves_partial_files(trained, tmp_path):
    folder = tmp_path / "Lora"
    folder.mkdir()
    (folder / "x.safetensors").write_bytes(b"keep me")
    good = {"lora_unet_a.lora_down.weight": torch.zeros(2, 2)}
    with pytest.raises(RequestError, match="already exists"):
        lora_file.write_lora(folder, "x", good, {})
    assert (folder / "x.safetensors").read_bytes() == b"keep me"
    shared = torch.zeros(4)
    with pytest.raises(Exception):  # safetensors refuses tensors sharing memory
        lora_file.write_lora(folder, "y", {"a": shared, "b": shared}, {})
    assert sorted(p.name for p in folder.iterdir()) == ["x.safetensors"]


def test_app_loras_loaded_before_training_are_kept(tiny_models_dir, tmp_path):
    """A pipeline that already carries the app's LoRA adapters (one active) trains on the
    base alone and gives them back as they were."""
    root = models_copy(tiny_models_dir, tmp_path / "models")
    shutil.copy(tiny_models_dir / "Lora" / "tiny-lora-a.safetensors", root / "Lora")
    registry = ModelRegistry(root / "Stable-diffusion")
    manager = ModelManager(registry, device="cpu")
    with_lora = small_request(prompt=f"{PROMPT} <lora:tiny-lora-a:0.7>")
    first = run_txt2img(manager, with_lora).images[0].image
    pipe = manager.current.pipe
    before = snapshot(pipe)
    assert before["unet"]["peft_config"]  # the app's adapter is there
    spec = validate_spec(TrainingSpec(name="second", images=tuple(pattern(i) for i in range(3)),
                                      steps=2, rank=2, resolution=64), registry.lora_dir)
    with LoraTraining(pipe, spec, tmp_path / "state") as run:
        run.train()
    assert run.changes() == {}
    assert_same(before, snapshot(pipe))
    again = run_txt2img(manager, with_lora).images[0].image
    assert np.array_equal(np.asarray(first), np.asarray(again))
