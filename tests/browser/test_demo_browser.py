"""Hosted-demo mode: two visitors (two browser contexts) never see each other's images."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp, generate


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("demo-app"), "--demo")
    yield running
    running.stop()


def gallery_count(page) -> int:
    page.get_by_role("tab", name="Gallery").click()
    page.locator("#gallery_refresh").click()
    page.wait_for_timeout(2000)
    return page.locator("#history_gallery img").count()


def test_demo_visitors_have_private_histories(app, pages):
    one, two = pages(), pages()
    for page in (one, two):
        page.goto(app.url)
        page.locator("#txt2img_prompt").wait_for(timeout=60_000)
    assert "Demo" in one.locator("#access_banner").inner_text()
    generate(one, "first visitor's boat")
    assert gallery_count(one) == 1
    assert gallery_count(two) == 0  # the other visitor sees nothing
    one.reload()  # the same browser keeps its history for the session
    one.locator("#txt2img_prompt").wait_for(timeout=60_000)
    assert gallery_count(one) == 1
    one.get_by_role("tab", name="Settings").click()
    assert one.locator("#settings_save button, button#settings_save").first.is_disabled()
