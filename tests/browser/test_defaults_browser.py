"""Settings defaults applied at page load never overwrite what a person already typed."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import RunningApp, pick


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


def test_default_sampler_and_schedule_type_are_saved_and_fill_the_tabs(app, pages):
    """Settings offers A1111 1.9+'s two dropdowns; the default is saved as one name
    ("DPM++ 2M Karras", as older settings files hold it) and fills both in every tab."""
    page = pages()
    page.goto(app.url)
    page.get_by_role("tab", name="Settings").click()
    pick(page, "settings_sampler", "DPM++ 2M")
    pick(page, "settings_scheduler", "Karras")
    page.locator("#settings_save").click()
    page.wait_for_function(
        "() => (document.querySelector('#settings_status')?.innerText || '').includes('Saved')")
    saved = json.loads((app.outputs.parent / "data" / "settings.json").read_text())
    assert saved["sampler"] == "DPM++ 2M Karras" and saved["steps"] == 30
    fresh = pages()
    fresh.goto(app.url)
    fresh.wait_for_function(
        "() => document.querySelector('#txt2img_scheduler input')?.value === 'Karras'")
    assert fresh.locator("#txt2img_sampler input").input_value() == "DPM++ 2M"
    assert fresh.locator("#txt2img_scheduler input").input_value() == "Karras"
