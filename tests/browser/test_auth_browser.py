"""Logging in through Gradio's form; two users in two browser contexts see only their own
images and progress."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningApp, generate


USERS = {"ann": "ann-Pw-41x", "ben": "ben-Pw-77q"}


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    auth = ",".join(f"{u}:{p}" for u, p in USERS.items())
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("auth-app"), "--auth", auth)
    yield running
    running.stop()


def log_in(page, url: str, user: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_wrong_password_is_refused(app, pages):
    page = pages()
    log_in(page, app.url, "ann", "not-the-password")
    page.get_by_text("Incorrect credentials").wait_for(timeout=30_000)
    assert page.locator("#txt2img_prompt").count() == 0


def test_two_users_see_only_their_own_history(app, pages):
    ann, ben = pages(), pages()
    log_in(ann, app.url, "ann", USERS["ann"])
    log_in(ben, app.url, "ben", USERS["ben"])
    ann.locator("#txt2img_prompt").wait_for(timeout=60_000)
    ben.locator("#txt2img_prompt").wait_for(timeout=60_000)
    generate(ann, "ann's lighthouse")
    generate(ben, "ben's windmill")
    assert "ann's lighthouse" in ann.locator("#txt2img_info textarea").input_value()
    assert len(list(app.outputs.rglob("*.png"))) == 2

    ben.get_by_role("tab", name="Gallery").click()
    ben.locator("#gallery_refresh").click()
    ben.locator("#history_gallery img").first.wait_for(timeout=30_000)
    ben.wait_for_timeout(1000)
    assert ben.locator("#history_gallery img").count() == 1  # ben's own, not ann's
    ben.locator("#gallery_search input, #gallery_search textarea").first.fill("lighthouse")
    ben.locator("#gallery_search input, #gallery_search textarea").first.press("Enter")
    ben.wait_for_timeout(2000)
    assert ben.locator("#history_gallery img").count() == 0

    ann.get_by_role("tab", name="Gallery").click()  # ann is the admin (first user): sees all
    ann.locator("#gallery_refresh").click()
    ann.locator("#history_gallery img").first.wait_for(timeout=30_000)
    ann.wait_for_timeout(1000)
    assert ann.locator("#history_gallery img").count() == 2
