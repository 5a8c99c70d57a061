"""The Gallery tab in the browser: star, status lines, delete confirmation, aspect ratio,
selecting on the thumbnails, re-run, and a batch's own parameters per image."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.browser.conftest import RunningApp, set_number, wait_job_done

SEED = 4321


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory, browser):
    """The app with one txt2img batch of two 64x128 images (seeds SEED and SEED+1)."""
    workdir = tmp_path_factory.mktemp("gallery-app")
    running = RunningApp(tiny_models_dir, workdir)
    running.db = workdir / "data" / "webui.db"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(running.url)
        page.locator("#txt2img_prompt textarea").fill("a tall gallery tower")
        set_number(page, "txt2img_width", 64)
        set_number(page, "txt2img_height", 128)
        set_number(page, "txt2img_steps", 2)
        set_number(page, "txt2img_batch_size", 2)
        page.locator("#txt2img_seed input").fill(str(SEED))
        page.locator("#txt2img_generate").click()
        wait_job_done(page, "txt2img", f"Seed: {SEED}")
    except BaseException:
        running.stop()
        raise
    finally:
        context.close()
    yield running
    running.stop()


def rows(app) -> dict[int, tuple[int, bool, str]]:
    """id -> (seed, starred, image path) straight from the history database."""
    with sqlite3.connect(app.db) as db:
        return {i: (seed, bool(star), path) for i, seed, star, path in
                db.execute("SELECT id, seed, starred, image_path FROM generations")}


def open_gallery(page, app, count: int | None = None):
    """Open the Gallery tab and wait for its thumbnails (``count`` of them when given)."""
    page.goto(app.url)
    page.get_by_role("tab", name="Gallery").click()
    thumbs = page.locator("#history_gallery .thumbnail-item")
    thumbs.first.wait_for(timeout=30_000)
    if count is not None:
        wait_thumbs(page, count)
    return thumbs


def wait_thumbs(page, count: int, timeout: int = 30_000) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#history_gallery .thumbnail-item').length === n",
        arg=count, timeout=timeout)


def meta_id(page) -> int:
    """The #id the detail pane describes (waits until it shows one)."""
    page.wait_for_function(
        "() => /#\\d+/.test(document.querySelector('#gallery_meta')?.innerText || '')")
    return int(re.search(r"#(\d+)", page.locator("#gallery_meta").inner_text()).group(1))


def click_thumb(page, index: int, previous: int | None = None) -> int:
    """Click the ``index``-th thumbnail; return the id the detail pane then shows."""
    page.locator("#history_gallery .thumbnail-item").nth(index).click()
    if previous is not None:
        page.wait_for_function(
            "p => !(document.querySelector('#gallery_meta')?.innerText || '').includes('#' + p"
            " + ' ')", arg=previous)
    return meta_id(page)


def caption_id(page, index: int) -> int:
    text = page.locator("#history_gallery .thumbnail-item").nth(index).locator(
        ".caption-label").inner_text()
    return int(re.search(r"#(\d+)", text).group(1))


def test_second_image_of_a_batch_shows_its_own_seed(app, pages):
    page = pages()
    open_gallery(page, app)
    db = rows(app)
    shown = {}
    previous = None
    for index in (0, 1):
        previous = click_thumb(page, index, previous)
        assert previous == caption_id(page, index)  # the detail is the clicked image's
        page.wait_for_function(
            "s => (document.querySelector('#gallery_info textarea')?.value || '')"
            ".includes('Seed: ' + s + ',')", arg=db[previous][0])
        shown[previous] = page.locator("#gallery_info textarea").input_value()
    assert sorted(db[i][0] for i in shown) == [SEED, SEED + 1]
    assert len(set(shown.values())) == 2


def test_star_updates_the_detail_at_once_and_says_so_beside_the_button(app, pages):
    page = pages()
    open_gallery(page, app)
    record = click_thumb(page, 0)
    was = rows(app)[record][1]
    page.locator("#gallery_star_one").click()
    want = "not starred" if was else "★ starred"
    page.wait_for_function(
        "w => (document.querySelector('#gallery_meta')?.innerText || '').includes(w)",
        arg=want, timeout=15_000)
    assert rows(app)[record][1] is (not was)
    # the message shows next to the button that caused it ...
    status = page.locator("#gallery_item_status")
    page.wait_for_function(
        "() => /starred #\\d+/i.test(document.querySelector('#gallery_item_status')"
        "?.innerText || '')", timeout=15_000)
    button_box = page.locator("#gallery_star_one").bounding_box()
    status_box = status.bounding_box()
    assert abs(status_box["y"] - button_box["y"]) < 150, (status_box, button_box)
    assert abs(status_box["x"] - button_box["x"]) < 700, (status_box, button_box)
    # ... and clears itself after a few seconds
    page.wait_for_function(
        "() => (document.querySelector('#gallery_item_status')?.innerText || '').trim() === ''",
        timeout=12_000)


def test_single_image_keeps_its_aspect_ratio(app, pages):
    page = pages()
    open_gallery(page, app)
    click_thumb(page, 0)
    image = page.locator("#gallery_image img").first
    image.wait_for()
    page.wait_for_function(
        "() => document.querySelector('#gallery_image img')?.naturalWidth > 0")
    shown = image.evaluate("""img => {
        const r = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit;
        return {fit, w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight};
    }""")
    assert shown["nw"] * 2 == shown["nh"], shown  # the 64x128 image itself
    if shown["fit"] not in ("contain", "scale-down"):  # fill/cover/none: the box must match
        assert abs(shown["w"] / shown["h"] - 0.5) < 0.02, shown
    # the thumbnails show the whole image too (not cropped to a square)
    thumb_fit = page.locator("#history_gallery .thumbnail-item img").first.evaluate(
        "img => getComputedStyle(img).objectFit")
    assert thumb_fit in ("contain", "scale-down"), thumb_fit


def test_select_several_on_the_thumbnails_and_star_them(app, pages):
    page = pages()
    open_gallery(page, app)
    page.locator("#gallery_select_mode input").check()
    picked = []
    for index in (0, 1):
        page.locator("#history_gallery .thumbnail-item").nth(index).click()
        picked.append(caption_id(page, index))
        page.wait_for_function(
            "n => document.querySelectorAll('#gallery_selection input:checked').length === n",
            arg=len(picked), timeout=15_000)
    # the picked thumbnails are marked as picked
    page.wait_for_function(
        "() => [...document.querySelectorAll('#history_gallery .thumbnail-item')]"
        ".filter(t => (t.querySelector('.caption-label')?.innerText || '').startsWith('✓'))"
        ".length === 2",
        timeout=15_000)
    # clicking one again unpicks it
    page.locator("#history_gallery .thumbnail-item").nth(1).click()
    page.wait_for_function(
        "() => document.querySelectorAll('#gallery_selection input:checked').length === 1",
        timeout=15_000)
    page.locator("#history_gallery .thumbnail-item").nth(1).click()
    page.wait_for_function(
        "() => document.querySelectorAll('#gallery_selection input:checked').length === 2",
        timeout=15_000)
    for record in picked:
        if rows(app)[record][1]:  # unstar first so the bulk star below changes both
            with sqlite3.connect(app.db) as db:
                db.execute("UPDATE generations SET starred = 0 WHERE id = ?", (record,))
    page.locator("#gallery_star_sel").click()
    page.wait_for_function(
        "() => /2 image\\(s\\) starred/.test(document.querySelector('#gallery_bulk_status')"
        "?.innerText || '')", timeout=15_000)
    assert all(rows(app)[r][1] for r in picked)


def test_rerun_same_seed_lists_and_shows_the_new_image(app, pages):
    page = pages()
    before = rows(app)
    open_gallery(page, app, count=len(before))
    record = click_thumb(page, 0)
    page.locator("#gallery_rerun").click()
    wait_thumbs(page, len(before) + 1, timeout=120_000)  # listed without pressing Refresh
    after = rows(app)
    (new_id,) = set(after) - set(before)
    assert after[new_id][0] == before[record][0]
    assert caption_id(page, 0) == new_id  # newest first
    page.wait_for_function(
        "i => (document.querySelector('#gallery_meta')?.innerText || '').includes('#' + i)",
        arg=new_id, timeout=30_000)  # the detail shows the new image with its parameters
    assert f"Seed: {before[record][0]}," in page.locator("#gallery_info textarea").input_value()


def test_delete_asks_first_and_removes_only_when_confirmed(app, pages):
    page = pages()
    before = rows(app)
    open_gallery(page, app, count=len(before))
    record = click_thumb(page, 0)
    image = app.outputs / before[record][2]
    assert image.is_file()
    page.locator("#gallery_delete_one").click()
    confirm = page.locator("#gallery_delete_one_confirm")
    confirm.wait_for(state="visible", timeout=15_000)
    assert f"#{record}" in confirm.inner_text()
    page.wait_for_timeout(1000)
    assert image.is_file() and record in rows(app)  # nothing gone before the answer
    page.locator("#gallery_delete_one_cancel").click()
    confirm.wait_for(state="hidden", timeout=15_000)
    page.wait_for_timeout(1000)
    assert image.is_file() and record in rows(app)

    page.locator("#gallery_delete_one").click()
    confirm.wait_for(state="visible", timeout=15_000)
    page.locator("#gallery_delete_one_yes").click()
    wait_thumbs(page, len(before) - 1)
    assert not image.exists() and record not in rows(app)
    page.wait_for_function(
        "i => (document.querySelector('#gallery_item_status')?.innerText || '')"
        ".includes('Deleted #' + i)", arg=record, timeout=15_000)

    # the bulk delete asks too
    page.locator("#gallery_select_mode input").check()
    page.locator("#history_gallery .thumbnail-item").nth(0).click()
    victim = caption_id(page, 0)
    page.wait_for_function(
        "() => document.querySelectorAll('#gallery_selection input:checked').length === 1",
        timeout=15_000)
    page.locator("#gallery_delete_sel").click()
    bulk = page.locator("#gallery_delete_sel_confirm")
    bulk.wait_for(state="visible", timeout=15_000)
    assert f"#{victim}" in bulk.inner_text()
    assert victim in rows(app)
    page.locator("#gallery_delete_sel_yes").click()
    wait_thumbs(page, len(before) - 2)
    assert victim not in rows(app)
