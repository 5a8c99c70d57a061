"""Every saved image passes one place (``HistoryStore.record``): filtered, then watermarked
once, then written with its A1111 infotext and the XMP label (issue 15 items 4, 5, 7). The
file, ``GeneratedImage.image`` and the API answers are the same marked picture; diffusers'
own watermarker is never on, so nothing is marked twice."""

from __future__ import annotations

import ast
import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import small_request
from webui.metadata.pnginfo import read_generation_info
from webui.provenance import TRAINED_ALGORITHMIC_MEDIA, check_image
from webui.provenance import watermark as wm
from webui.provenance.xmp import read_labels

ROOT = Path(__file__).resolve().parents[2]
BIG = dict(width=256, height=256, steps=2)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_every_format_is_marked_labelled_and_keeps_its_parameters(ctx, fmt):
    ctx.user_settings.save(output_format=fmt)
    outcome = ctx.jobs.run(small_request(**BIG))
    gen, saved = outcome.result.images[0], outcome.saved[0]
    assert saved.path.suffix == {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}[fmt]
    report = check_image(saved.path.read_bytes())
    assert report["watermark"]["bits_matched"] == 48 and report["watermark"]["found"]
    labels = report["labels"]
    assert labels["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert labels["ai_generated"] and labels["software"].startswith("sdxl-webui ")
    assert labels["model"] == "tiny-sdxl-a" and labels["model_hash"] == outcome.result.model_hash
    # the A1111 infotext is where it always was and still parses (PNG Info, Civitai...)
    info = read_generation_info(str(saved.path))
    assert info.prompt == "a photo of a cat" and info.params["Seed"] == "1234"
    assert gen.notes == []  # marked: nothing to say
    if fmt != "jpeg":  # lossless: the file holds exactly the picture the job returns
        with Image.open(saved.path) as img:
            assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(gen.image))
    assert wm.read_watermark(gen.image).bits_matched == 48  # the returned picture is marked


def test_png_keeps_parameters_chunk_beside_the_xmp_chunk(ctx):
    saved = ctx.jobs.run(small_request()).saved[0]
    with Image.open(saved.path) as img:
        assert img.text["parameters"].startswith("a photo of a cat\n")
        assert "Iptc4xmpExt:DigitalSourceType" in img.text["XML:com.adobe.xmp"]
        assert read_labels(img)["ai_generated"]
    # the chunks, in the file: tEXt parameters and iTXt XML:com.adobe.xmp
    data = saved.path.read_bytes()
    assert b"tEXtparameters\x00" in data and b"iTXtXML:com.adobe.xmp\x00" in data


def test_small_images_are_not_marked_and_say_so(ctx):
    outcome = ctx.jobs.run(small_request(batch_size=2))  # 64 px
    note = "not watermarked: under 256 px wide (the SDXL watermark needs room)"
    for gen, saved in zip(outcome.result.images, outcome.saved):
        assert gen.notes == [note]
        # the A1111 parameters are as the engine wrote them: nothing about the watermark
        with Image.open(saved.path) as img:
            assert img.text["parameters"] == gen.infotext
            assert read_labels(img)["ai_generated"]  # the XMP label is still there
        assert "watermark" not in gen.infotext.lower()


def test_tab_output_says_when_an_image_is_not_marked(ctx):
    """The result's caption says so; the Generation parameters stay the plain infotext (it
    is copied and parsed)."""
    from webui.ui.widgets import final_outputs

    outcome = ctx.jobs.run(small_request())
    gallery, info, _ = final_outputs(outcome)
    assert gallery[0][1] == ("seed 1234 · not watermarked: under 256 px wide (the SDXL "
                             "watermark needs room)")
    assert info == outcome.result.images[0].infotext
    gallery, _, _ = final_outputs(ctx.jobs.run(small_request(**BIG)))
    assert gallery[0][1] == "seed 1234"


def test_no_watermark_flag_turns_it_off(settings):
    from webui.app import create_context
    from webui.config import parse_settings

    assert parse_settings(["--no-watermark"]).no_watermark
    assert not parse_settings([]).no_watermark
    settings.no_watermark = True
    ctx = create_context(settings)
    outcome = ctx.jobs.run(small_request(**BIG))
    assert outcome.result.images[0].notes == []  # the admin's choice: nothing to say
    report = check_image(outcome.saved[0].path.read_bytes())
    assert not report["watermark"]["found"]
    assert report["labels"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA


def test_pipelines_never_watermark_themselves(ctx):
    """diffusers adds its own SDXL watermarker when invisible-watermark is importable (as it
    is now) unless told not to: every pipeline the manager builds has it off."""
    from webui.models.bundle import JobModels

    assert wm.available() is None  # diffusers would default to watermarking here
    with ctx.manager.prepare(JobModels("tiny-sdxl-a", modes=("txt2img", "img2img", "inpaint"),
                                       refiner="tiny-sdxl-refiner")) as bundle:
        views = {**bundle.pipes, "refiner": bundle.refiner_pipe,
                 "cached base": bundle.base.pipe, "cached refiner": bundle.refiner.pipe}
        for name, pipe in views.items():
            assert pipe is not None and getattr(pipe, "watermark", None) is None, name


SDXL_PIPELINES = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
                  "StableDiffusionXLInpaintPipeline")


def _builds_sdxl_pipeline(call: ast.Call) -> bool:
    func = call.func
    names = []
    while isinstance(func, ast.Attribute):
        names.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        names.append(func.id)
    names.reverse()  # e.g. ["cls", "from_pretrained"] or ["StableDiffusionXLPipeline"]
    if names and names[-1] in SDXL_PIPELINES:
        return True
    return len(names) == 2 and names[0] in SDXL_PIPELINES + ("cls",) and names[1] in (
        "from_pretrained", "from_single_file", "from_pipe")


def test_every_pipeline_built_in_the_app_passes_add_watermarker_false():
    """A source scan of webui/ and benchmarks/: each SDXL pipeline constructor,
    ``from_pretrained``, ``from_single_file`` and ``from_pipe`` says
    ``add_watermarker=False`` (or passes a config that does)."""
    missing = []
    for path in sorted([*(ROOT / "webui").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _builds_sdxl_pipeline(node):
                keywords = {k.arg for k in node.keywords}
                passes = "add_watermarker" in keywords or None in keywords  # **config
                if not passes:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, "SDXL pipelines built without add_watermarker=False: " + \
        ", ".join(missing)


def test_api_answers_are_the_marked_files(served):
    ctx, http, _ = served
    r = http.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "seed": 5, "steps": 2,
                                             "width": 256, "height": 256,
                                             "sampler_name": "Euler"})
    assert r.status_code == 200, r.text
    data = base64.b64decode(r.json()["images"][0])
    newest = ctx.store.recent(limit=1)[0]
    assert data == ctx.store.image_path(newest).read_bytes()  # the saved file's own bytes
    report = check_image(data)
    assert report["watermark"]["bits_matched"] == 48
    assert report["labels"]["ai_generated"]
    import json

    info = json.loads(r.json()["info"])
    assert info["notices"] == [] and info["content_filtered"] == [False]
    r = http.post("/v1/generation/tiny-sdxl-a/text-to-image", json={
        "text_prompts": [{"text": "a dog"}], "width": 256, "height": 256, "steps": 2,
        "seed": 9, "samples": 1})
    assert r.status_code == 200, r.text
    artifact = r.json()["artifacts"][0]
    assert artifact["finishReason"] == "SUCCESS"
    assert check_image(base64.b64decode(artifact["base64"]))["watermark"]["found"]
    small = http.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 1, "width": 64,
                                                 "height": 64})
    assert json.loads(small.json()["info"])["notices"] == [
        "not watermarked: under 256 px wide (the SDXL watermark needs room)"]


def test_check_image_route(served):
    ctx, http, _ = served
    from tests.provenance.helpers import textured

    marked = wm.embed_watermark(textured(11))
    data = ctx.store.provenance.encode(marked, "a cat\nSteps: 2", "png", "tiny-sdxl-a",
                                       "0123456789")
    r = http.post("/sdapi/v1/check-image",
                  json={"image": base64.b64encode(data).decode()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["watermark"] == {"bits_matched": 48, "of": 48, "found": True,
                                      "text": "SDXL watermark: 48/48 bits (found)",
                                      "reason": None}
    assert body["labels"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert body["labels"]["model"] == "tiny-sdxl-a"
    assert body["c2pa"]["present"] in (False, None)  # no certificate on this server
    plain = io.BytesIO()
    textured(12).save(plain, "JPEG", quality=95)
    body = http.post("/sdapi/v1/check-image", json={
        "image": "data:image/jpeg;base64," + base64.b64encode(plain.getvalue()).decode()}).json()
    assert not body["watermark"]["found"] and body["labels"]["xmp"] is False
    bad = http.post("/sdapi/v1/check-image", json={"image": "bm90IGFuIGltYWdl"})
    assert bad.status_code == 400


def test_png_info_check_panel(served, tmp_path):
    """The PNG Info tab's "Check image" panel (Gradio endpoint ``/check_image``)."""
    from gradio_client import Client, handle_file

    ctx, _, url = served
    from tests.provenance.helpers import textured

    path = tmp_path / "marked.png"
    path.write_bytes(ctx.store.provenance.encode(wm.embed_watermark(textured(13)), "a cat",
                                                 "png"))
    text = Client(url, verbose=False).predict(handle_file(str(path)), api_name="/check_image")
    assert "SDXL watermark: 48/48 bits (found)" in text
    assert "trainedAlgorithmicMedia — made with AI" in text
    assert "Software: sdxl-webui" in text and "C2PA: " in text


def test_extras_results_are_marked_when_their_source_was_generated(ctx):
    """Upscaled pictures go through the same finishing: a generated source's result is
    watermarked and labelled trainedAlgorithmicMedia (the upscale erased the original
    mark); an upscaled photograph is labelled algorithmicallyEnhanced, not SDXL-marked."""
    from tests.provenance.helpers import textured
    from webui.provenance.xmp import ALGORITHMICALLY_ENHANCED
    from webui.upscaling.extras import ExtrasRequest

    generated = ctx.jobs.run(small_request(width=128, height=128)).saved[0].path
    photo = textured(41, 128, 128)
    with Image.open(generated) as source:
        source.load()
        result = ctx.extras.run(ExtrasRequest(images=[(source, "gen.png"), (photo, "photo")],
                                              scale=2.0, upscaler_1="Lanczos"))
    for path, image, made in zip(result.paths, result.images, (True, False)):
        report = check_image(path.read_bytes())
        with Image.open(path) as img:
            assert np.array_equal(np.asarray(img.convert("RGB")), np.asarray(image))
            assert img.text["postprocessing"].startswith("Postprocess upscale by: 2")
        if made:  # an upscale is smooth (interpolated): a bit or two may read wrong
            assert report["watermark"]["found"], report["watermark"]
            assert report["labels"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
            with Image.open(path) as img:
                assert img.text["parameters"].startswith("a photo of a cat")
        else:
            assert not report["watermark"]["found"]
            assert report["labels"]["digital_source_type"] == ALGORITHMICALLY_ENHANCED


def test_export_keeps_mark_and_label_of_jpeg_outputs(ctx, tmp_path):
    """The Gallery's export turns JPEG/WebP files into PNGs: the watermark (the pixels) and
    the XMP label go along; records.json says what the output filter did."""
    import json
    import zipfile

    from webui.history.export import export_zip

    ctx.user_settings.save(output_format="jpeg")
    saved = ctx.jobs.run(small_request(**BIG)).saved[0]
    target, problems = export_zip(ctx.store, [saved.id], dest_dir=tmp_path)
    assert problems == []
    with zipfile.ZipFile(target) as zf:
        png = zf.read(next(n for n in zf.namelist() if n.endswith(".png")))
        records = json.loads(zf.read("records.json"))
    report = check_image(png)
    assert report["format"] == "PNG" and report["watermark"]["bits_matched"] == 48
    assert report["labels"]["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert records[0]["filtered"] is None
