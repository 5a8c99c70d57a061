"""Images and rows written together, in A1111's layout, and still there after a restart."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from PIL import Image

from tests.helpers import small_request
from webui.app import create_context
from webui.metadata.infotext import parse_infotext


def test_image_saved_with_parameters_and_recorded(ctx):
    outcome = ctx.jobs.run(small_request(seed=555, negative_prompt="ugly"))
    (saved,) = outcome.saved
    day = datetime.now().strftime("%Y-%m-%d")
    assert saved.path.parent == ctx.settings.outputs_dir / "txt2img-images" / day
    assert saved.path.name == "00001-555.png"
    with Image.open(saved.path) as img:
        assert img.format == "PNG" and img.size == (64, 64)
        parsed = parse_infotext(img.info["parameters"])
    assert parsed["prompt"] == "a photo of a cat"
    assert parsed["negative_prompt"] == "ugly"
    assert parsed["params"]["Seed"] == "555"
    (row,) = ctx.store.recent()
    assert (row.mode, row.seed, row.width, row.height, row.steps) == ("txt2img", 555, 64, 64, 2)
    assert row.model_name == "tiny-sdxl-a" and re.fullmatch(r"[0-9a-f]{10}", row.model_hash)
    assert row.negative_prompt == "ugly" and row.sampler == "Euler" and row.cfg_scale == 7.0
    assert row.params["Seed"] == "555" and row.infotext == parsed_text(saved.path)
    assert row.duration > 0 and row.created_at is not None
    assert ctx.store.image_path(row) == saved.path


def parsed_text(path):
    with Image.open(path) as img:
        return img.info["parameters"]


def test_numbering_continues_and_history_survives_restart(ctx, settings):
    ctx.jobs.run(small_request(seed=1, batch_size=2))
    ctx.jobs.run(small_request(seed=9))
    names = sorted(p.name for p in ctx.store.day_dir("txt2img").glob("*.png"))
    assert names == ["00001-1.png", "00002-2.png", "00003-9.png"]
    ctx.store.engine.dispose()

    reopened = create_context(settings)  # a new process would do exactly this
    rows = reopened.store.recent()
    assert [r.seed for r in rows] == [9, 2, 1]  # newest first
    assert all(reopened.store.image_path(r).is_file() for r in rows)


def test_model_hash_is_sha256_prefix_of_unet_weights(ctx, tiny_models_dir):
    import hashlib

    weights = (tiny_models_dir / "Stable-diffusion/tiny-sdxl-a/unet/"
               "diffusion_pytorch_model.safetensors")
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    outcome = ctx.jobs.run(small_request())
    assert outcome.result.model_hash == expected
    assert f"Model hash: {expected}, Model: tiny-sdxl-a" in outcome.result.images[0].infotext


def test_failed_commit_leaves_no_file(ctx):
    """If the row cannot be written, the image file is not left behind either."""
    from sqlalchemy import text

    with ctx.store.engine.begin() as conn:  # make every insert fail
        conn.execute(text("CREATE TRIGGER no_insert BEFORE INSERT ON generations "
                          "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    with pytest.raises(Exception, match="disk full"):
        ctx.jobs.run(small_request())
    assert list(ctx.settings.outputs_dir.rglob("*.png")) == []
    assert list(ctx.settings.outputs_dir.rglob(".tmp-*")) == []
    assert ctx.store.count() == 0
