"""Logging in through Gradio's form; the header says who is logged in and logs out; two users
in two browser contexts see only their own images (not even through the file URL the other's
page shows); only the ``--admins`` user sees everyone's, and the images made before logins."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, generate
from tests.helpers import small_request

#: ann is listed first: she must NOT become an admin; cat is the one --admins names
USERS = {"ann": "ann-Pw-41x", "ben": "ben-Pw-77q", "cat": "cat-Pw-93z"}


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    from webui.app import create_context
    from webui.caller import LOCAL_USER
    from webui.config import Settings

    work = tmp_path_factory.mktemp("auth-app")
    # an image made while logins were off (no owner), in the folders the app then serves
    before = create_context(Settings(models_dir=tiny_models_dir, outputs_dir=work / "outputs",
                                     data_dir=work / "data", device="cpu"))
    before.jobs.run(small_request(prompt="made while logins were off"), owner=LOCAL_USER)
    before.store.engine.dispose()
    auth = ",".join(f"{u}:{p}" for u, p in USERS.items())
    running = RunningApp(tiny_models_dir, work, "--auth", auth, "--admins", "cat")
    yield running
    running.stop()


def log_in(page, url: str, user: str, password: str | None = None) -> None:
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password or USERS[user])
    page.get_by_role("button", name="Login").click()


def gallery_count(page, expected: int) -> None:
    page.get_by_role("tab", name="Gallery").click()
    page.locator("#gallery_refresh").click()
    expect(page.locator("#gallery_page_info")).to_contain_text(f"{expected} image(s)",
                                                               timeout=30_000)
    expect(page.locator("#history_gallery img")).to_have_count(expected, timeout=30_000)


def test_wrong_password_is_refused(app, pages):
    page = pages()
    log_in(page, app.url, "ann", "not-the-password")
    page.get_by_text("Incorrect credentials").wait_for(timeout=30_000)
    assert page.locator("#txt2img_prompt").count() == 0


def test_two_users_see_only_their_own_images_and_file_urls(app, pages):
    ann, ben = pages(), pages()
    log_in(ann, app.url, "ann")
    log_in(ben, app.url, "ben")
    # the header says who is logged in; ann, listed first, is no admin
    expect(ann.locator("#logged_in_as")).to_have_text("Logged in as ann", timeout=60_000)
    expect(ben.locator("#logged_in_as")).to_have_text("Logged in as ben", timeout=60_000)
    expect(ann.locator("#logout_button")).to_be_visible()
    generate(ann, "ann's lighthouse")
    generate(ben, "ben's windmill")
    assert len(list(app.outputs.rglob("*.png"))) == 3  # with the one made before logins

    # the URL ann's page shows her result by: a copy in Gradio's cache, not the outputs path
    src = ann.locator("#txt2img_gallery img").first.get_attribute("src")
    assert "/gradio_api/file=" in src and str(app.outputs) not in src
    assert ann.request.get(src).status == 200
    refused = ben.request.get(src)
    assert refused.status == 403 and refused.body() == b"File not allowed."

    gallery_count(ben, 1)  # ben's own: not ann's, not the one made before logins
    search = ben.locator("#gallery_search input, #gallery_search textarea").first
    search.fill("lighthouse")
    search.press("Enter")
    expect(ben.locator("#gallery_page_info")).to_contain_text("0 image(s)", timeout=30_000)
    expect(ben.locator("#history_gallery img")).to_have_count(0)
    gallery_count(ann, 1)  # the first user listed sees only her own too


def test_admin_sees_every_image_and_those_made_before_logins_labelled(app, pages):
    cat = pages()
    log_in(cat, app.url, "cat")
    expect(cat.locator("#logged_in_as")).to_have_text("Logged in as cat · admin",
                                                      timeout=60_000)
    total = len(list(app.outputs.rglob("*.png")))
    gallery_count(cat, total)
    label = cat.locator("#history_gallery").get_by_text("(made before logins)")
    expect(label).to_have_count(1, timeout=30_000)
    label.click()  # its detail says so too
    expect(cat.get_by_text("made before logins (no owner: admins only)")).to_be_visible(
        timeout=30_000)


def test_log_out_returns_to_the_login_page(app, pages):
    page = pages()
    log_in(page, app.url, "ben")
    expect(page.locator("#logged_in_as")).to_have_text("Logged in as ben", timeout=60_000)
    page.locator("#logout_button").click()
    expect(page.get_by_label("username")).to_be_visible(timeout=30_000)
    assert page.locator("#txt2img_prompt").count() == 0
    page.reload()  # logged out for good, not just a page drawn over the app
    expect(page.get_by_label("username")).to_be_visible(timeout=30_000)
    assert page.locator("#txt2img_prompt").count() == 0
