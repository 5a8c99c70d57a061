"""A generation tab's output and details in the browser: the live preview under one progress
bar, the size preset, LoRA trigger words, "Seed used", the Output box, the send buttons'
words, a batch's own seed per image, Ctrl+Enter and the optional job-finished notification."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from tests.browser.conftest import RunningApp, generate, set_number, wait_job_done


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("output-app"))
    yield running
    running.stop()


TABS = ("txt2img", "img2img", "inpaint", "outpaint")


def small_job(page, tab: str, prompt: str, width=64, height=64, steps=2) -> None:
    page.locator(f"#{tab}_prompt textarea").fill(prompt)
    set_number(page, f"{tab}_width", width)
    set_number(page, f"{tab}_height", height)
    set_number(page, f"{tab}_steps", steps)


def pick_option(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in a single-choice Gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=value, exact=True).first.click()


def preset_shown(page, tab: str = "txt2img") -> str:
    return page.locator(f"#{tab}_preset input").input_value()


def test_details_before_and_after_a_first_job(app, pages):
    page = pages()
    page.goto(app.url)
    page.locator("#txt2img_used_seed input").wait_for()
    for tab in TABS:  # (a tab's components are drawn when it is first opened)
        page.get_by_role("tab", name=tab, exact=True).click()
        # "Seed used" is empty (not 0) before any job
        seed_used = page.locator(f"#{tab}_used_seed input")
        seed_used.wait_for()
        assert seed_used.input_value() == "", tab
        # the empty Output is a display, not an upload box
        gallery = page.locator(f"#{tab}_gallery")
        assert gallery.count() == 1, tab
        assert gallery.locator("input[type=file]").count() == 0, tab
        assert "upload" not in gallery.inner_text().lower(), tab
    page.get_by_role("tab", name="txt2img", exact=True).click()
    # the send buttons say what they send and where
    assert page.locator("#txt2img_send_to_txt2img").inner_text() == "Use parameters in txt2img"
    assert page.locator("#txt2img_send_to_img2img").inner_text() == \
        "Send image and parameters to img2img"
    assert page.locator("#txt2img_send_to_inpaint").inner_text() == \
        "Send image and parameters to inpaint"
    # in txt2img "back" would do what "Use parameters in txt2img" does: not shown twice
    assert not page.locator("#txt2img_send_back").is_visible()
    page.get_by_role("tab", name="img2img").click()
    assert page.locator("#img2img_send_back").inner_text() == \
        "Use parameters in img2img (keep its image)"
    page.get_by_role("tab", name="txt2img").click()

    page.locator("#txt2img_seed input").fill("31337")
    generate(page, "a first job for the details")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_used_seed input')?.value === '31337'")


def test_size_preset_follows_the_sliders(app, pages):
    """The presets are the selected checkpoint's: tiny-sdxl-a draws 128 px, and a new page
    starts at that native size (tests/browser/test_size_presets_browser.py switches models)."""
    page = pages()
    page.goto(app.url)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_preset input')?.value === '128x128 (1:1)'")
    set_number(page, "txt2img_width", 1024)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_preset input')?.value === 'Custom'")
    set_number(page, "txt2img_width", 128)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_preset input')?.value === '128x128 (1:1)'")
    pick_option(page, "txt2img_preset", "144x112 (9:7)")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_width input[type=number]')?.value === '144'"
        " && document.querySelector('#txt2img_height input[type=number]')?.value === '112'")
    assert preset_shown(page) == "144x112 (9:7)"
    # typed sizes that make a preset show it; one off it shows Custom again
    set_number(page, "txt2img_width", 112)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_preset input')?.value === 'Custom'")
    set_number(page, "txt2img_height", 144)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_preset input')?.value === '112x144 (7:9)'")


def test_trigger_words_go_when_the_lora_tag_goes(app, pages):
    page = pages()
    page.goto(app.url)
    prompt = page.locator("#txt2img_prompt textarea")
    prompt.fill("a cat")
    pick_option(page, "txt2img_lora_picker", "tiny-lora-a")
    page.wait_for_function(
        "() => document.querySelector('#txt2img_prompt textarea').value"
        ".includes('<lora:tiny-lora-a:1>')")
    words = page.locator("#txt2img_lora_words")
    page.wait_for_function(
        "() => (document.querySelector('#txt2img_lora_words')?.innerText || '')"
        ".includes('tinystyle')")
    # the tag removed by hand: the words go
    prompt.fill("a cat")
    page.wait_for_function(
        "() => !(document.querySelector('#txt2img_lora_words')?.innerText || '')"
        ".includes('tinystyle')")
    # typed by hand (with another weight): they come back
    prompt.fill("a cat <lora:tiny-lora-a:0.6>")
    page.wait_for_function(
        "() => (document.querySelector('#txt2img_lora_words')?.innerText || '')"
        ".includes('tinystyle')")
    assert "red hat" in words.inner_text()
    # a LoRA without trigger words shows none
    prompt.fill("a cat <lora:tiny-lora-b:1>")
    page.wait_for_function(
        "() => (document.querySelector('#txt2img_lora_words')?.innerText || '').trim() === ''")


def test_batch_images_show_their_own_seed_and_a_single_result_is_not_cropped(app, pages):
    page = pages()
    page.goto(app.url)
    small_job(page, "txt2img", "a tall batch for the output panel", 64, 128)
    set_number(page, "txt2img_batch_size", 2)
    page.locator("#txt2img_seed input").fill("777")
    page.locator("#txt2img_generate").click()
    wait_job_done(page, "txt2img", "Seed: 777,")
    thumbs = page.locator("#txt2img_gallery .thumbnail-item")
    page.wait_for_function(
        "() => document.querySelectorAll('#txt2img_gallery .thumbnail-item').length === 2")
    for index, seed in ((1, 778), (0, 777), (1, 778)):
        page.locator("#txt2img_gallery .thumbnail-item").nth(index).click()
        page.wait_for_function(
            "s => (document.querySelector('#txt2img_info textarea')?.value || '')"
            ".includes('Seed: ' + s + ',') && "
            "document.querySelector('#txt2img_used_seed input')?.value === String(s)",
            arg=seed)
    assert thumbs.count() >= 2

    # one 64x128 result: shown whole (its aspect ratio kept), in the grid and when opened
    page.goto(app.url)
    small_job(page, "txt2img", "a single tall result", 64, 128)
    page.locator("#txt2img_seed input").fill("4040")
    page.locator("#txt2img_generate").click()
    wait_job_done(page, "txt2img", "a single tall result")
    image = page.locator("#txt2img_gallery img").first
    page.wait_for_function(
        "() => document.querySelector('#txt2img_gallery img')?.naturalWidth > 0")
    shown = image.evaluate("""img => {
        const r = img.getBoundingClientRect(), fit = getComputedStyle(img).objectFit;
        return {fit, w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight};
    }""")
    assert shown["nw"] * 2 == shown["nh"], shown
    if shown["fit"] not in ("contain", "scale-down"):  # the box itself must keep the ratio
        assert abs(shown["w"] / shown["h"] - 0.5) < 0.02, shown


STATE_OF_PROGRESS = """() => {
    const visible = (el) => !!el && el.getClientRects().length > 0 &&
        getComputedStyle(el).visibility !== 'hidden';
    const bars = [...document.querySelectorAll('.progress-level, .eta-bar')].filter(visible);
    const trackers = ['#txt2img_gallery', '#txt2img_used_seed', '#txt2img_info'].map(
        (sel) => [...document.querySelectorAll(sel + ' [data-testid=status-tracker]')]
            .some((t) => visible(t) && !t.classList.contains('hide')));
    const img = document.querySelector('#txt2img_gallery img');
    let covered = null;
    if (img && img.naturalWidth > 0) {
        const r = img.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        covered = !(top === img || img.contains(top));
    }
    const text = document.querySelector('#txt2img_progress')?.innerText || '';
    const elapsed = text.match(/([0-9.]+)s elapsed/);
    const caption = document.querySelector('#txt2img_gallery .caption-label')?.innerText
        || document.querySelector('#txt2img_gallery')?.innerText || '';
    const step = caption.match(/preview, step (\\d+)/);
    return {bars: bars.length, inProgressArea: bars.filter(
                (b) => b.closest('#txt2img_progress')).length,
            otherTrackers: trackers, covered, text,
            elapsed: elapsed ? parseFloat(elapsed[1]) : null,
            previewStep: step ? parseInt(step[1]) : null};
}"""


def test_live_preview_is_visible_under_one_progress_bar(app, pages):
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="Settings").click()
    set_number(page, "settings_live_preview", 1)
    page.locator("#settings_save").click()
    page.wait_for_function(
        "() => (document.querySelector('#settings_status')?.innerText || '').includes('Saved')")
    page.get_by_role("tab", name="txt2img").click()
    # 150 steps (the most): on a quiet machine a 60-step job ended before three previews
    # were seen and Stop was pressed (CI saw the finished picture and no "Stopped")
    small_job(page, "txt2img", "a slow job with live previews", 256, 256, 150)
    page.locator("#txt2img_generate").click()

    seen = []
    try:
        for _ in range(240):
            state = page.evaluate(STATE_OF_PROGRESS)
            # (an image still loading is skipped: it has no size to look at yet)
            if None not in (state["previewStep"], state["elapsed"], state["covered"]):
                seen.append(state)
                if len({s["previewStep"] for s in seen}) >= 3:
                    break
            page.wait_for_timeout(250)
    finally:
        page.locator("#txt2img_stop").click()
    assert len({s["previewStep"] for s in seen}) >= 3, seen[-3:]
    for state in seen:
        # the preview is on top at its centre: no overlay over the Output
        assert state["covered"] is False, state
        # one progress bar, in the progress area; none over Output, Seed used, parameters
        assert state["bars"] == 1 and state["inProgressArea"] == 1, state
        assert state["otherTrackers"] == [False, False, False], state
    # the elapsed time never goes back when a preview arrives
    times = [s["elapsed"] for s in seen]
    assert times == sorted(times), times
    assert times[-1] > times[0], times
    wait_job_done(page, "txt2img", "Stopped")


NOTIFICATION_SPY = """
(() => {
  window.__notes = {created: [], requested: 0};
  const Real = window.Notification;
  class Spy {
    constructor(title, options) {
      window.__notes.created.push({title, body: (options || {}).body || ''});
      try { return new Real(title, options); } catch (err) { /* headless */ }
    }
    static get permission() { return Real ? Real.permission : 'granted'; }
    static requestPermission(...args) {
      window.__notes.requested += 1;
      return Real ? Real.requestPermission(...args) : Promise.resolve('granted');
    }
  }
  window.Notification = Spy;
  // the person is in another window: A1111 (and this app) notify only then
  document.hasFocus = () => false;
})();
"""


def test_job_finished_notification_only_when_turned_on(app, pages):
    page = pages(permissions=["notifications"])
    page.context.add_init_script(NOTIFICATION_SPY)
    page.goto(app.url)
    # off by default: a finished job asks for nothing and shows nothing
    page.get_by_role("tab", name="Settings").click()
    assert not page.locator("#settings_notify input").is_checked()
    page.get_by_role("tab", name="txt2img").click()
    generate(page, "a job nobody is told about")
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__notes") == {"created": [], "requested": 0}

    page.get_by_role("tab", name="Settings").click()
    page.locator("#settings_notify input").check()
    page.wait_for_function("() => localStorage.getItem('sdxl-webui.notify') === '1'")
    page.get_by_role("tab", name="txt2img").click()
    generate(page, "a job that notifies")
    page.wait_for_function("() => window.__notes.created.length === 1")
    note = page.evaluate("window.__notes.created[0]")
    assert "txt2img" in note["body"] and "finished" in note["body"], note
    # the choice is this browser's and stays after a reload
    page.reload()
    page.get_by_role("tab", name="Settings").click()
    page.wait_for_function("() => document.querySelector('#settings_notify input')?.checked")


def test_ctrl_enter_generates_in_the_tab_on_screen(app, pages, tmp_path):
    page = pages()
    page.goto(app.url)
    small_job(page, "txt2img", "made with ctrl enter")
    page.locator("#txt2img_prompt textarea").focus()
    page.keyboard.press("Control+Enter")
    wait_job_done(page, "txt2img", "made with ctrl enter")
    assert "\n" not in page.locator("#txt2img_prompt textarea").input_value()

    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    page.get_by_role("tab", name="img2img").click()
    page.locator("#img2img_image input[type=file]").set_input_files(str(source))
    page.locator("#img2img_image img").first.wait_for()
    small_job(page, "img2img", "an img2img by ctrl enter")
    txt2img_before = len(list(app.outputs.rglob("txt2img-images/*/*.png")))
    page.locator("#img2img_prompt textarea").focus()
    page.keyboard.press("Control+Enter")
    info = wait_job_done(page, "img2img", "an img2img by ctrl enter")
    assert re.search(r"Denoising strength: [0-9.]+", info)
    assert len(list(app.outputs.rglob("txt2img-images/*/*.png"))) == txt2img_before
