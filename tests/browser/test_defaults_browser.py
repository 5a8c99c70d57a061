"""Settings defaults applied at page load never overwrite what a person already typed."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import RunningApp


@pytest.fixture(scope="module")
def app(tiny_models_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("defaults-app")
    (work / "data").mkdir()
    # a person's saved defaults: 30 steps, 96x96
    (work / "data" / "settings.json").write_text(json.dumps(
        {"steps": 30, "width": 96, "height": 96}))
    running = RunningApp(tiny_models_dir, work)
    yield running
    running.stop()


def number(page, elem_id: str):
    return page.locator(f"#{elem_id} input[type=number]")


def test_defaults_arrive_at_load(app, pages):
    page = pages()
    page.goto(app.url)
    page.wait_for_function(
        "() => document.querySelector('#txt2img_steps input[type=number]')?.value === '30'")
    assert number(page, "txt2img_width").input_value() == "96"


def test_a_slow_defaults_answer_keeps_what_the_person_typed(app, pages):
    """The page-load answer is held back (a slow server) until the person has typed steps
    and width; then it arrives: their values stay, the untouched height takes the default."""
    page = pages()
    held, hold = [], [True]

    def slow_server(route):
        if hold[0] and route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route("**/gradio_api/**", slow_server)
    page.goto(app.url)
    steps = number(page, "txt2img_steps")
    steps.fill("2")
    steps.press("Enter")
    width = number(page, "txt2img_width")
    width.fill("64")
    width.press("Enter")
    page.wait_for_timeout(500)
    assert held, "the page-load request was not seen"
    hold[0] = False
    for route in held:
        route.continue_()
    page.wait_for_function(
        "() => document.querySelector('#txt2img_height input[type=number]')?.value === '96'")
    assert steps.input_value() == "2" and width.input_value() == "64"
