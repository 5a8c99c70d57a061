"""The LoRA teaches the demo model (coloured shapes from text, the shipped ``sdxl-demo-shapes``)
a concept it cannot draw from the trigger: five pictures of a green star on a purple
background captioned "a photo of ohwx" (colours the classifier never confuses: yellow and
orange are close, and a LoRA's yellow reads orange now and then). Through the app itself
(the model manager's pipeline trains, the file lands in ``models/Lora``, the engine draws
with ``<lora:…>``) the demo classifier reads the concept in at most 1 of 8 pictures of the base and in at least 6 of 8
with the LoRA, while a plain prompt still draws what it says with the LoRA on.

About 40 s on a CPU (100 steps at 128 px, text encoders trained: the words
"photo" and "ohwx" are unknown to the demo's text encoders, so the LoRA ties the concept to
their embedding; one torch thread, as every trainer test: see conftest.py)."""

from __future__ import annotations

import random
import time

import pytest

from tests.helpers import small_request
from webui.engine.txt2img import run_txt2img
from webui.models.manager import JobModels, ModelManager
from webui.models.registry import ModelRegistry
from webui.testing import demo_data as dd
from webui.testing.demo_model import NAME, install
from webui.training.spec import TrainingSpec, validate_spec
from webui.training.trainer import LoraTraining

pytestmark = pytest.mark.slow

PROMPT = "a photo of ohwx"
CONCEPT = ("green", "purple", "star")  # (shape colour, background, shape) as classify reads
SEED, N, STEPS = 300, 8, 10
LORA = "ohwx-star"
#: a prompt the demo draws well; with the LoRA on it must still draw what it says
CONTROL = dd.Sample("circle", "red", "green", "center", "large")


def draw(manager, prompt: str) -> list[dd.Reading]:
    req = small_request(prompt=prompt, model=NAME, width=dd.NATIVE, height=dd.NATIVE,
                        steps=STEPS, seed=SEED, batch_size=N, cfg_scale=5)
    return [dd.classify(g.image) for g in run_txt2img(manager, req).images]


def concept_count(readings) -> int:
    return sum((r.colour, r.background, r.shape) == CONCEPT for r in readings)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-train")
    install(root)  # a models folder of its own: the LoRA written here stays here
    registry = ModelRegistry(root / "Stable-diffusion")
    manager = ModelManager(registry, device="cpu")
    base = draw(manager, PROMPT)
    rng = random.Random(0)
    images = tuple(dd.render(dd.Sample("star", *CONCEPT[:2], position, "large"), rng)
                   for position in dd.POSITIONS)  # five pictures, one per position
    spec = validate_spec(TrainingSpec(
        name=LORA, images=images, captions=(PROMPT,) * len(images), steps=100, rank=8,
        learning_rate=5e-3, resolution=dd.NATIVE, train_text_encoders=True, seed=0),
        registry.lora_dir)
    started = time.perf_counter()
    with manager.prepare(JobModels(NAME)) as bundle:
        with LoraTraining(bundle.base.pipe, spec, root / "state") as run:
            outcome = run.train()
            run.save(registry.lora_dir, outcome, base_name=NAME)
    seconds = time.perf_counter() - started
    tagged = draw(manager, f"{PROMPT} <lora:{LORA}:1>")
    control = draw(manager, f"{CONTROL.caption} <lora:{LORA}:1>")
    plain = draw(manager, PROMPT)
    print(f"trained {outcome.step} steps in {seconds:.0f}s; concept in base "
          f"{concept_count(base)}/{N}, with the LoRA {concept_count(tagged)}/{N}")
    return dict(base=base, tagged=tagged, control=control, plain=plain)


def test_the_base_does_not_draw_the_concept_from_the_trigger(demo):
    assert concept_count(demo["base"]) <= 1, demo["base"]


def test_the_lora_draws_the_concept_from_the_trigger(demo):
    assert concept_count(demo["tagged"]) >= 6, demo["tagged"]


def test_other_prompts_still_draw_what_they_say_with_the_lora(demo):
    hits = sum((r.colour, r.background) == (CONTROL.colour, CONTROL.background)
               for r in demo["control"])
    assert hits >= 6, demo["control"]


def test_without_the_tag_the_base_is_back(demo):
    assert [tuple(r) for r in demo["plain"]] == [tuple(r) for r in demo["base"]]
