"""The gallery's store API, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import time
import zipfile
from datetime import date, timedelta

import pytest
from PIL import Image

from tests.history.conftest import make_result
from webui.history.boards import BoardError
from webui.history.export import export_zip
from webui.history.query import GalleryQuery


def _ids(page):
    return [r.id for r in page.rows]


def test_search_filters_sort_and_pages(store):
    cat = store.record(make_result("a photo of a cat", "blurry", seeds=(1, 2)))
    dog = store.record(make_result("a dog on the beach", "cartoon", seeds=(3,), mode="img2img",
                                   model="other-model", size=(80, 64)))
    store.record(make_result("a red car", "", seeds=(4,)))
    assert store.search(GalleryQuery()).total == 4
    newest = _ids(store.search(GalleryQuery()))
    assert newest[0] > newest[-1]
    assert _ids(store.search(GalleryQuery(newest_first=False))) == newest[::-1]
    # search covers prompt and negative prompt, word prefixes, any case
    assert set(_ids(store.search(GalleryQuery(text="CAT")))) == {s.id for s in cat}
    assert _ids(store.search(GalleryQuery(text="cartoon"))) == [dog[0].id]
    assert _ids(store.search(GalleryQuery(text="beac"))) == [dog[0].id]
    assert store.search(GalleryQuery(text="cat dog")).total == 0  # every word must match
    # filters
    assert _ids(store.search(GalleryQuery(mode="img2img"))) == [dog[0].id]
    assert _ids(store.search(GalleryQuery(model="other-model"))) == [dog[0].id]
    assert _ids(store.search(GalleryQuery(width=80, height=64))) == [dog[0].id]
    today = date.today()
    assert store.search(GalleryQuery(date_from=today, date_to=today)).total == 4
    assert store.search(GalleryQuery(date_to=today - timedelta(days=1))).total == 0
    assert store.search(GalleryQuery(date_from=today + timedelta(days=1))).total == 0
    # paging
    first = store.search(GalleryQuery(per_page=3))
    second = store.search(GalleryQuery(per_page=3, page=1))
    assert first.total == 4 and first.pages == 2 and len(first.rows) == 3
    assert len(second.rows) == 1 and not set(_ids(first)) & set(_ids(second))
    assert store.choices("mode") == ["img2img", "txt2img"]
    assert store.choices("size") == ["64x48", "80x64"]


@pytest.mark.parametrize("nasty", [
    '"', "'", '"cat', "cat\"'", "%", "_", "100%", "cat*", "NEAR(cat dog)", "cat AND dog",
    "cat OR dog", "NOT cat", "-cat", "prompt:cat", "^cat", "'; DROP TABLE generations; --",
    "(((", "\\", "x" * 10_000, "cat " * 3000, "\x00", "🐱",
])
def test_hostile_search_strings_are_plain_text(store, nasty):
    store.record(make_result("a photo of a cat", seeds=(1,)))
    store.record(make_result("100% pure_gold \\ backslash", seeds=(2,)))
    page = store.search(GalleryQuery(text=nasty))  # never raises
    assert page.total == len(page.rows)
    assert store.count() == 2  # and nothing was dropped


def test_percent_and_underscore_match_literally(store):
    (gold,) = store.record(make_result("100% pure_gold", seeds=(1,)))
    store.record(make_result("100 pure gold", seeds=(2,)))
    assert _ids(store.search(GalleryQuery(text="%"))) == [gold.id]
    assert _ids(store.search(GalleryQuery(text="_"))) == [gold.id]


def test_star_and_unstar(store):
    a, b = store.record(make_result(seeds=(1, 2)))
    assert store.set_starred([a.id], True) == 1
    assert _ids(store.search(GalleryQuery(starred=True))) == [a.id]
    store.set_starred([a.id], False)
    assert store.search(GalleryQuery(starred=True)).total == 0


def test_boards_many_to_many(store):
    a, b, c = store.record(make_result(seeds=(1, 2, 3)))
    cats, best = store.create_board("cats"), store.create_board("best")
    with pytest.raises(BoardError, match="already"):
        store.create_board("cats")
    with pytest.raises(BoardError, match="name"):
        store.create_board("   ")
    assert store.add_to_board(cats.id, [a.id, b.id]) == 2
    assert store.add_to_board(cats.id, [a.id]) == 0  # already there
    store.add_to_board(best.id, [a.id])
    assert set(_ids(store.search(GalleryQuery(board_id=cats.id)))) == {a.id, b.id}
    assert store.boards_of(a.id) == ["best", "cats"]
    assert [(bd.name, n) for bd, n in store.boards()] == [("best", 1), ("cats", 2)]
    store.remove_from_board(cats.id, [b.id])
    assert _ids(store.search(GalleryQuery(board_id=cats.id))) == [a.id]
    store.delete(a.id and [a.id])  # deleting an image takes it off every board
    assert [(bd.name, n) for bd, n in store.boards()] == [("best", 0), ("cats", 0)]
    store.delete_board(best.id)
    assert [bd.name for bd, _ in store.boards()] == ["cats"]
    assert store.count() == 2  # deleting a board keeps its images


def test_delete_one_and_many_removes_files_and_thumbnails(store):
    saved = store.record(make_result(seeds=(1, 2, 3)))
    thumbs = [store.thumbnail(store.get(s.id)) for s in saved]
    assert all(t.suffix == ".webp" and t.is_file() for t in thumbs)
    assert store.delete([saved[0].id]) == 1
    assert not saved[0].path.exists() and not thumbs[0].exists()
    saved[1].path.unlink()  # a file already missing on disk does not stop the delete
    assert store.delete([saved[1].id, saved[2].id]) == 2
    assert store.count() == 0 and list(store.outputs_dir.rglob("*.png")) == []
    assert list(store.outputs_dir.rglob("0000*.webp")) == []


def test_thumbnail_made_once_beside_image(store):
    (saved,) = store.record(make_result(seeds=(1,), size=(640, 320)))
    row = store.get(saved.id)
    thumb = store.thumbnail(row)
    assert thumb.parent == saved.path.parent / ".thumbs"
    with Image.open(thumb) as img:
        assert img.format == "WEBP" and max(img.size) <= 256 and img.size[0] == 2 * img.size[1]
    before = thumb.stat().st_mtime_ns
    time.sleep(0.01)
    assert store.thumbnail(row) == thumb and thumb.stat().st_mtime_ns == before
    saved.path.unlink()
    assert store.thumbnail(row).name == "missing.webp"  # a placeholder, not a crash


def test_owners_see_and_delete_only_their_own(store):
    (alice,) = store.record(make_result("alice cat", seeds=(1,)), owner="alice")
    (bob,) = store.record(make_result("bob cat", seeds=(2,)), owner="bob")
    as_alice = dict(owner="alice", is_admin=False)
    assert _ids(store.search(GalleryQuery(text="cat"), **as_alice)) == [alice.id]
    assert store.get(bob.id, **as_alice) is None
    assert store.delete([bob.id], **as_alice) == 0 and bob.path.exists()
    assert store.set_starred([bob.id], True, **as_alice) == 0
    assert store.count(**as_alice) == 1
    board = store.create_board("mine", owner="alice")
    assert store.add_to_board(board.id, [alice.id, bob.id], **as_alice) == 1
    with pytest.raises(BoardError):
        store.add_to_board(board.id, [bob.id], owner="bob", is_admin=False)
    assert [b.name for b, _ in store.boards(owner="bob", is_admin=False)] == []
    # the admin sees and deletes everything
    assert store.search(GalleryQuery(), owner="root", is_admin=True).total == 2
    assert store.delete([bob.id], owner="root", is_admin=True) == 1 and not bob.path.exists()


def test_export_zip_has_pngs_with_parameters_and_json(store, tmp_path):
    saved = store.record(make_result("export me", seeds=(7, 8)))
    target, problems = export_zip(store, [s.id for s in saved], dest_dir=tmp_path)
    assert problems == []
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        records = json.loads(zf.read("records.json"))
        pngs = [n for n in names if n.endswith(".png")]
        assert len(pngs) == 2
        with zf.open(pngs[0]) as fh, Image.open(fh) as img:
            assert img.format == "PNG" and "export me" in img.info["parameters"]
    assert sorted(r["seed"] for r in records) == [7, 8]
    assert all(r["file"] in names and r["prompt"] == "export me" for r in records)
    with pytest.raises(ValueError, match="nothing"):
        export_zip(store, [saved[0].id], owner="mallory", is_admin=False, dest_dir=tmp_path)
