"""The optional output filter (issue 15 items 6, 7): a detector behind a small interface;
flagged pictures are blurred or withheld before they are watermarked and saved, the gallery
marks them, the Stability API answers ``CONTENT_FILTERED``, the A1111 API says so in
``info``. The plumbing runs with a simple detector of our own (it flags pictures whose mean
red is above a line), the real NudeNet detector is loaded and run once when the extra is
installed."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import inspect

from tests.helpers import small_request
from tests.safety.detectors import Broken, RedDetector, flag_everything, redness
from webui.safety import (CONTENT_FILTERED, Detector, Finding, OutputFilter, load_detector)

SEED = 4242


@pytest.fixture(scope="module")
def reds(tiny_models_dir, tmp_path_factory):
    """The redness of the two pictures of the test batch (seeds SEED, SEED + 1), unfiltered,
    and a line between them: the detector flags exactly one."""
    from webui.app import create_context
    from webui.config import Settings

    work = tmp_path_factory.mktemp("reds")
    ctx = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=work / "out",
                                  data_dir=work / "data", device="cpu"))
    images = ctx.jobs.run(small_request(batch_size=2, seed=SEED)).result.images
    values = [redness(g.image) for g in images]
    assert values[0] != values[1]
    return values, sum(values) / 2


def test_detectors_implement_the_interface():
    assert isinstance(RedDetector(), Detector)
    with pytest.raises(ValueError, match="blur, withhold"):
        OutputFilter(RedDetector(), action="delete")


@pytest.mark.parametrize("action", ["blur", "withhold"])
def test_flagged_pictures_are_hidden_recorded_and_said(ctx, reds, action):
    values, line = reds
    ctx.store.output_filter = OutputFilter(RedDetector(above=line), action)
    outcome = ctx.jobs.run(small_request(batch_size=2, seed=SEED))
    flagged = [v > line for v in values]
    assert sorted(flagged) == [False, True]
    for gen, saved, hit in zip(outcome.result.images, outcome.saved, flagged):
        row = ctx.store.get(saved.id)
        with Image.open(saved.path) as img:
            pixels = np.asarray(img.convert("RGB"))
            parameters = img.text["parameters"]
        assert np.array_equal(pixels, np.asarray(gen.image.convert("RGB")))  # saved = answered
        if not hit:
            assert gen.filtered == "" and row.filtered is None
            assert redness(gen.image) == pytest.approx(values[flagged.index(False)])
            continue
        done = "blurred" if action == "blur" else "withheld"
        assert gen.filtered == f"{done}: RED 0.90" and row.filtered == gen.filtered
        if action == "withhold":
            assert (pixels == 128).all()  # plain grey: nothing of the picture is kept
        else:  # heavily blurred: little left of the detail
            detail = np.abs(np.diff(pixels.astype(int), axis=1)).mean()
            assert detail < 3
        # the infotext (A1111 parameters) is the picture's own, unchanged
        assert parameters == gen.infotext and "filter" not in parameters
        assert gen.notes[0] == f"{done}: RED 0.90 (output filter)"  # the result's caption
        from webui.ui.history import FILTERED_MARK, describe

        assert f"{FILTERED_MARK}**output filter**: {done}: RED 0.90" in describe(ctx.store,
                                                                                  row)


def test_a_failing_detector_keeps_the_picture(ctx, caplog):
    ctx.store.output_filter = OutputFilter(Broken())
    outcome = ctx.jobs.run(small_request())
    assert outcome.result.images[0].filtered == "" and outcome.saved
    assert "output filter broken failed" in caplog.text


def test_the_filter_runs_before_the_watermark(ctx):
    """Blurring erases a watermark: the mark is embedded after the filter, once."""
    from webui.provenance import watermark as wm

    ctx.store.output_filter = OutputFilter(flag_everything(), "withhold")
    gen = ctx.jobs.run(small_request(width=256, height=256)).result.images[0]
    assert gen.filtered.startswith("withheld")
    # a plain grey picture has no texture to carry the mark reliably; what matters is that
    # the saved pixels are the grey picture plus the mark, never an unmarked grey one
    assert not (np.asarray(gen.image) == 128).all()
    assert wm.read_watermark(gen.image).bits_matched > 0


def test_safety_checker_flag_loads_a_detector(tiny_models_dir, tmp_path):
    from webui.app import create_context
    from webui.config import parse_settings

    spec = "tests.safety.detectors:flag_everything"
    s = parse_settings(["--safety-checker", spec, "--safety-action", "withhold",
                        "--models-dir", str(tiny_models_dir), "--outputs-dir",
                        str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
                        "--device", "cpu"])
    assert (s.safety_checker, s.safety_action) == (spec, "withhold")
    assert parse_settings(["--data-dir", str(tmp_path / "d")]).safety_checker is None  # off
    ctx = create_context(s)
    assert isinstance(ctx.output_filter.detector, RedDetector)
    assert ctx.store.output_filter is ctx.output_filter
    assert ctx.jobs.run(small_request()).result.images[0].filtered.startswith("withheld")
    with pytest.raises(SystemExit):
        parse_settings(["--safety-checker", "no_such_module:x", "--data-dir",
                        str(tmp_path / "d")])
    with pytest.raises(RuntimeError, match="module:factory"):
        load_detector("not-a-spec")


def test_the_apis_say_so(served, reds):
    ctx, http, _ = served
    values, line = reds
    ctx.store.output_filter = OutputFilter(RedDetector(above=line), "blur")
    try:
        r = http.post("/v1/generation/tiny-sdxl-a/text-to-image", json={
            "text_prompts": [{"text": "a photo of a cat"}], "width": 64, "height": 64,
            "steps": 2, "seed": SEED, "samples": 2, "sampler": "K_EULER"})
        assert r.status_code == 200, r.text
        reasons = [a["finishReason"] for a in r.json()["artifacts"]]
        assert reasons == [CONTENT_FILTERED if v > line else "SUCCESS" for v in values]
        r = http.post("/sdapi/v1/txt2img", json={
            "prompt": "a photo of a cat", "width": 64, "height": 64, "steps": 2,
            "seed": SEED, "batch_size": 2, "sampler_name": "Euler"})
        assert r.status_code == 200, r.text
        info = json.loads(r.json()["info"])
        assert info["content_filtered"] == [v > line for v in values]
        assert [bool(t) for t in info["content_filter"]] == info["content_filtered"]
        assert any("(output filter)" in n for n in info["notices"])
        flagged = info["content_filtered"].index(True)
        data = base64.b64decode(r.json()["images"][flagged])
        newest = {ctx.store.image_path(row).read_bytes(): row
                  for row in ctx.store.recent(limit=2)}
        assert newest[data].filtered.startswith("blurred: RED")  # the blurred file itself
        r = http.post("/v1/generation/tiny-sdxl-a/text-to-image", headers={
            "Accept": "image/png"}, json={"text_prompts": [{"text": "a photo of a cat"}],
                                          "width": 64, "height": 64, "steps": 2,
                                          "seed": SEED + values.index(max(values)),
                                          "samples": 1, "sampler": "K_EULER"})
        assert r.headers["Finish-Reason"] == CONTENT_FILTERED
    finally:
        ctx.store.output_filter = None


def test_migration_0006_adds_and_removes_the_column(tmp_path):
    from alembic import command

    from webui.history.db import alembic_config, open_database

    url = f"sqlite:///{tmp_path / 'webui.db'}"
    engine = open_database(url)
    assert "filtered" in {c["name"] for c in inspect(engine).get_columns("generations")}
    cfg = alembic_config(url)
    command.downgrade(cfg, "0005")
    assert "filtered" not in {c["name"] for c in inspect(engine).get_columns("generations")}
    command.upgrade(cfg, "head")
    assert "filtered" in {c["name"] for c in inspect(engine).get_columns("generations")}


def test_nudenet_loads_offline_and_runs(tmp_path, tiny_models_dir):
    """The real detector, once, when the extra is installed: its ONNX model comes from the
    wheel (no download), it answers in the Finding shape, and --safety-checker uses it."""
    pytest.importorskip("nudenet", reason="NudeNet is not installed (optional extra: "
                                          "pip install --no-deps nudenet==3.4.2)")
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed "
                                              "(requirements-extras.txt)")
    from tests.provenance.helpers import textured
    from webui.safety.nudenet import FLAGGED, NudeNetDetector

    detector = NudeNetDetector()
    assert detector.name == "NudeNet" and "FEMALE_BREAST_EXPOSED" in FLAGGED
    for picture in (textured(31, 320, 320), Image.new("RGB", (512, 384), (200, 160, 140))):
        findings = detector.detect(picture)
        assert isinstance(findings, list)
        assert all(isinstance(f, Finding) and f.label in FLAGGED and 0 <= f.score <= 1
                   for f in findings)
    # the model really ran: NudeNet's own answer for the picture (all labels) is a list
    assert isinstance(detector._detector.detect(np.zeros((64, 64, 4), np.uint8)), list)
    from webui.app import create_context
    from webui.config import parse_settings

    ctx = create_context(parse_settings([
        "--safety-checker", "--models-dir", str(tiny_models_dir), "--outputs-dir",
        str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"), "--device", "cpu"]))
    assert ctx.output_filter.detector.name == "NudeNet"
    outcome = ctx.jobs.run(small_request())
    assert outcome.saved and outcome.result.images[0].filtered == ""  # noise: nothing flagged
