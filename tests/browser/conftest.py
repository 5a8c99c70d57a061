"""Browser tests: the real app in a child process, driven through Debian's chromium.

Playwright drives the system browser (``/usr/bin/chromium``); it never downloads one. A
screenshot of every page is saved when a test fails (``browser-failures/`` under pytest's
temp folder; the path is printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]


class RunningApp:
    """``python launch.py`` in a child process on a free loopback port."""

    def __init__(self, tiny_models_dir: Path, workdir: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = workdir / "app.log"
        self.outputs = workdir / "outputs"
        args = [sys.executable, "launch.py", "--port", str(self.port),
                "--models-dir", str(tiny_models_dir), "--outputs-dir", str(self.outputs),
                "--data-dir", str(workdir / "data"), *extra]
        env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=5).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"app did not start:\n{self.log.read_text()}")
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); "
                    ".ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def pages(request, browser, tmp_path_factory):
    """Open pages (each in its own browser context = its own user/session); screenshots of
    all of them are saved if the test fails."""
    opened = []

    def new_page(**context_kw):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_kw)
        page = context.new_page()
        page.set_default_timeout(60_000)
        opened.append(page)
        return page

    yield new_page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        folder = tmp_path_factory.mktemp("browser-failures")
        for i, page in enumerate(opened):
            shot = folder / f"{request.node.name}-{i}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot saved: {shot}")
            except Exception as exc:  # noqa: BLE001
                print(f"screenshot failed: {exc}")
    for page in opened:
        page.context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def set_number(page, elem_id: str, value, settle_ms: int = 400) -> None:
    """Type ``value`` into a number field and check that it took effect (and stayed: a page
    still starting up may set its own value just after the typing), retrying until then."""
    box = page.locator(f"#{elem_id} input[type=number]")
    want = str(value)
    for _ in range(20):
        box.fill(want)
        box.press("Enter")
        page.wait_for_timeout(settle_ms)
        if box.input_value() == want:
            return
    raise AssertionError(f"#{elem_id} shows {box.input_value()!r}, not the typed {want!r}")


def pick(page, elem_id: str, value: str) -> None:
    """Pick ``value`` in a single-choice Gradio dropdown, as a person does."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    page.get_by_role("option", name=value, exact=True).first.click()
    page.wait_for_function("([sel, v]) => document.querySelector(sel)?.value === v",
                           arg=[f"#{elem_id} input", value])


def wait_job_done(page, tab: str, text: str, timeout: int = 120_000) -> str:
    """Wait until ``tab``'s generation parameters hold ``text``: they are written when the
    job ends (a gallery image alone may be a live preview). Returns the parameters."""
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.value || '').includes(text)",
        arg=[f"#{tab}_info textarea", text], timeout=timeout)
    return page.locator(f"#{tab}_info textarea").input_value()


def generate(page, prompt: str) -> None:
    """Type ``prompt``, a 64x64 2-step job, Generate, and wait until the job is done."""
    page.locator("#txt2img_prompt textarea").fill(prompt)
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 64)
    set_number(page, "txt2img_steps", 2)
    page.locator("#txt2img_generate").click()
    wait_job_done(page, "txt2img", prompt)
