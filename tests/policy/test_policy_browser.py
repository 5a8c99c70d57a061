"""The prompt policy in a browser (issue 15 items 1 and 3): a warned prompt's gr.Warning
toast, a blocked prompt's error; the Settings tab's "Prompt policy" panel: "check this
prompt" for everyone, the policy file and the log of refusals and warnings for the admin
only, an admin's edit taking effect at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RunningApp, browser, generate, pages

#: the browser tests' fixtures (chromium, pages), used here too
BROWSER_FIXTURES = (browser, pages)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

USERS = {"ann": "ann-Pw-41x", "cat": "cat-Pw-93z"}  # cat is the admin


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    auth = ",".join(f"{u}:{p}" for u, p in USERS.items())
    running = RunningApp(tiny_models_dir, tmp_path_factory.mktemp("policy-app"),
                         "--auth", auth, "--admins", "cat")
    yield running
    running.stop()


def log_in(page, url: str, user: str) -> None:
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(USERS[user])
    page.get_by_role("button", name="Login").click()
    page.locator("#txt2img_prompt").wait_for()


def open_panel(page) -> None:
    page.get_by_role("tab", name="Settings").click()
    page.locator("#policy_panel").get_by_text("Prompt policy").first.click()
    expect(page.locator("#policy_summary")).to_contain_text("Policy file")


def check(page, prompt: str, expected: str) -> None:
    page.locator("#policy_probe textarea").fill(prompt)
    page.locator("#policy_check").click()
    expect(page.locator("#policy_verdict")).to_contain_text(expected)


def test_warning_toast_and_blocked_error_in_the_txt2img_tab(app, pages):
    page = pages()
    log_in(page, app.url, "ann")
    generate(page, "a sexy robot")
    expect(page.get_by_text('Sexual terms: the picture may be explicit. (rule sexual: "sexy")')
           .first).to_be_visible()
    assert page.locator("#txt2img_info textarea").input_value().startswith(
        "Warning: Sexual terms")
    page.locator("#txt2img_prompt textarea").fill("a nude child")
    page.locator("#txt2img_generate").click()
    expect(page.get_by_text("Sexual content involving minors is not allowed.").first) \
        .to_be_visible()


def test_everyone_checks_a_prompt_only_the_admin_sees_the_file_and_log(app, pages):
    ann = pages()
    log_in(ann, app.url, "ann")
    open_panel(ann)
    check(ann, "a n\u00fcde child", "Blocked")
    check(ann, "an assassin with a cocktail", "Passes")
    ann.wait_for_timeout(500)
    expect(ann.locator("#policy_admin")).to_be_hidden()

    cat = pages()
    log_in(cat, app.url, "cat")
    open_panel(cat)
    text = cat.locator("#policy_text textarea")
    cat.wait_for_function(
        "() => (document.querySelector('#policy_text textarea')?.value || '')"
        ".includes('minors-sexual')")
    # the log lists ann's warning and refusal (owner, door, rule)
    expect(cat.locator("#policy_events")).to_contain_text("minors-sexual")
    expect(cat.locator("#policy_events")).to_contain_text("ann")
    # a broken edit is refused with its problem; a good one takes effect at once
    text.fill(text.input_value() + '\n[[artist]]\nname = "Jane Doe"\naction = "hide"\n')
    cat.locator("#policy_save").click()
    expect(cat.get_by_text("artist 'Jane Doe': action must be").first).to_be_visible()
    text.fill(text.input_value().replace('action = "hide"', 'action = "block"'))
    cat.locator("#policy_save").click()
    expect(cat.locator("#policy_status")).to_contain_text("1 artists")
    check(cat, "a castle by Jane Doe", "Blocked")
    check(ann, "a castle by Jane Doe", "Blocked")
