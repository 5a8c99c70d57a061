"""Import folder: an A1111-like outputs tree built from real samples of other tools."""

from __future__ import annotations

import shutil

import pytest

from tests.history.conftest import SAMPLES, make_result
from webui.history.importer import import_folder
from webui.history.query import GalleryQuery

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"samples not found at {SAMPLES}")


def _tree(tmp_path):
    root = tmp_path / "a1111" / "outputs"
    t2i = root / "txt2img-images" / "2024-05-01"
    i2i = root / "img2img-images" / "2024-05-02"
    for folder in (t2i, i2i):
        folder.mkdir(parents=True)
    shutil.copy(SAMPLES / "a1111_sdxl.png", t2i / "00000-3782896554.png")
    shutil.copy(SAMPLES / "a1111_jpeg_exif.jpg", t2i / "00001-3623174757.jpg")
    shutil.copy(SAMPLES / "comfyui_sdxl.png", i2i / "00000-1.png")
    shutil.copy(SAMPLES / "fooocus.png", root / "loose.png")
    (t2i / "notes.txt").write_text("not an image")
    (t2i / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    from PIL import Image

    Image.new("RGB", (32, 32)).save(t2i / "00002-plain.png")  # no metadata at all
    return root


def test_import_a1111_tree_is_idempotent(store, tmp_path):
    root = _tree(tmp_path)
    report = import_folder(store, root, owner=None)
    assert report.added == 5 and report.skipped == 0 and report.without_metadata == 1
    assert [p.endswith("broken.png") for p in report.unreadable] == [True]
    again = import_folder(store, root)
    assert again.added == 0 and again.skipped == 5
    assert store.count() == 5

    page = store.search(GalleryQuery(text="masterpiece", mode="txt2img",
                                     model="waiIllustriousSDXL_v160"))
    a1111 = {r.seed: r for r in page.rows}[3782896554]
    assert (a1111.source, a1111.steps, a1111.sampler, a1111.cfg_scale) == ("a1111", 20,
                                                                          "DPM++ 2M", 7.0)
    assert a1111.model_hash == "45a21ea00a" and "Seed: 3782896554" in a1111.infotext
    seeds = {r.seed for r in store.search(GalleryQuery(per_page=100)).rows}
    assert {3782896554, 3623174757, 6952411511246973023} <= seeds
    comfy = store.search(GalleryQuery(mode="img2img")).rows
    assert [r.source for r in comfy] == ["comfyui"] and comfy[0].steps == 20
    fooocus = store.search(GalleryQuery(text="goldfish")).rows
    assert fooocus[0].mode == "imported" and (fooocus[0].width, fooocus[0].height) == (768, 1280)
    assert store.image_path(fooocus[0]).is_file()  # files stay where they were
    assert "goldfish" in fooocus[0].infotext


def test_importing_own_outputs_adds_nothing(store):
    store.record(make_result(seeds=(1, 2)))
    report = import_folder(store, store.outputs_dir)
    assert report.added == 0 and report.skipped == 2 and store.count() == 2


def test_import_missing_folder_is_a_clear_error(store, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        import_folder(store, tmp_path / "nope")
