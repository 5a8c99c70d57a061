"""The extension API through a real server on loopback: the README's example extension adds a
tab, a route, a hook and an always-on script that visibly change pictures; broken extensions
(an import error, a hook that raises, a hook that hangs) leave the app serving and report
themselves; scripts' arguments are validated (422 naming the field); the switch in the
Extensions tab applies at the next start."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "extensions" / "README.md").read_text(encoding="utf-8")
    section = text.split("## A minimal example", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


BROKEN = 'raise ImportError("the module it needs is not installed")\n'
RAISING = '''
def setup(ext):
    @ext.on_image
    def explode(job, req, image):
        if "boom" in req.prompt:
            raise ValueError("kaboom")
        return None
'''
SLOW = '''
import time

def setup(ext):
    @ext.before_generation
    def dawdle(job, req):
        if "slowly" in req.prompt:
            time.sleep(30)
'''


@pytest.fixture
def ext_dir(tmp_path):
    root = tmp_path / "extensions"
    for name, code in (("hello", readme_example()), ("broken", BROKEN),
                       ("raising", RAISING), ("slow", SLOW)):
        (root / name).mkdir(parents=True)
        (root / name / "extension.py").write_text(code, encoding="utf-8")
    return root


@pytest.fixture
def settings(settings, ext_dir):
    settings.extensions_dirs = (ext_dir,)
    settings.extension_timeout = 2.0
    settings.api = True
    return settings


@pytest.fixture
def served(settings):
    from webui.app import create_context
    from webui.server.uvicorn_server import serve

    ctx = create_context(settings)
    server = serve(ctx, block=False, port=free_port())
    try:
        with httpx.Client(base_url=server.local_url.rstrip("/"), timeout=120) as client:
            yield ctx, client, server.local_url
    finally:
        server.close()


def txt2img(client, prompt, **kw):
    body = dict(prompt=prompt, width=64, height=64, steps=2, seed=3, sampler_name="Euler",
                override_settings={"sd_model_checkpoint": "tiny-sdxl-a"})
    body.update(kw)
    return client.post("/sdapi/v1/txt2img", json=body)


def picture(response) -> np.ndarray:
    data = base64.b64decode(response.json()["images"][0])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def statuses(client) -> dict:
    return {e["name"]: e for e in client.get("/sdapi/v1/extensions").json()}


def test_the_example_adds_a_route_a_tab_and_a_hook_that_changes_pictures(served):
    ctx, client, url = served
    r = client.get("/ext/hello/greeting", params={"name": "bob"})
    assert r.status_code == 200 and r.json() == {"greeting": "hello, bob", "from": "hello"}
    assert "/ext/hello/greeting" in client.get("/openapi.json").json()["paths"]
    # its tab is on the page
    config = client.get("/config").json()
    assert any(c.get("props", {}).get("value") == "Hello from an extension."
               for c in config["components"])
    # the on_image hook paints a red corner only when the prompt asks for it
    plain = picture(txt2img(client, "a house"))
    marked = picture(txt2img(client, "a house with a red corner"))
    assert (marked[:8, :8] == [255, 0, 0]).all()
    assert not (plain[:8, :8] == [255, 0, 0]).all()
    # the saved file is the changed picture too
    row = ctx.store.recent(1)[0]
    with Image.open(ctx.store.image_path(row)) as saved:
        assert saved.convert("RGB").getpixel((2, 2)) == (255, 0, 0)
    hello = statuses(client)["hello"]
    assert hello["state"] == "loaded" and hello["version"] == "1.0"
    # its sampler is listed and runs (the same scheduler as Euler: the same pixels)
    assert "Euler (hello)" in [s["name"] for s in client.get("/sdapi/v1/samplers").json()]
    own = txt2img(client, "a house", sampler_name="Euler (hello)")
    assert own.status_code == 200, own.text
    assert "Sampler: Euler (hello)" in own.json()["info"]
    assert (picture(own) == plain).all()


def test_an_always_on_script_gets_validated_arguments(served):
    _, client, _ = served
    framed = picture(txt2img(client, "a house",
                             alwayson_scripts={"Frame": {"args": [6, "blue"]}}))
    assert (framed[0, :] == [0, 0, 255]).all() and (framed[:, -1] == [0, 0, 255]).all()
    assert (framed[5, 10:50] == [0, 0, 255]).all() and not (framed[32, 32] == [0, 0, 255]).all()
    # by name and in any case, as A1111 matches titles
    again = picture(txt2img(client, "a house", alwayson_scripts={"frame": {"args": {"width": 2}}}))
    assert (again[1, :] == [255, 0, 0]).all()
    bad = txt2img(client, "a house", alwayson_scripts={"frame": {"args": [0, "blue"]}})
    assert bad.status_code == 422
    assert "width" in json.dumps(bad.json()["detail"])
    bad = txt2img(client, "a house", alwayson_scripts={"frame": {"args": ["wide"]}})
    assert bad.status_code == 422 and "width" in bad.text
    # scripts the app does not have are ignored, as A1111 ignores them
    assert txt2img(client, "a house", alwayson_scripts={"ADetailer": {"args": []}}
                   ).status_code == 200
    info = {s["name"]: s for s in client.get("/sdapi/v1/script-info").json()}
    assert info["frame"]["is_alwayson"] is True
    assert info["frame"]["args"][0] == {"label": "width", "value": 4, "minimum": 1,
                                        "maximum": 64, "step": None, "choices": None}
    unknown = txt2img(client, "a house", script_name="no such script")
    assert unknown.status_code == 422 and "no such script" in unknown.text


def test_broken_extensions_report_themselves_and_the_app_keeps_serving(served):
    ctx, client, _ = served
    st = statuses(client)
    assert st["broken"]["state"] == "error"
    assert "the module it needs is not installed" in st["broken"]["error"]
    assert st["raising"]["state"] == st["slow"]["state"] == "loaded"
    before = ctx.store.count()
    r = txt2img(client, "boom")
    assert r.status_code == 400
    assert "raising" in r.text and "kaboom" in r.text
    assert ctx.store.count() == before  # the failed job wrote nothing
    assert statuses(client)["raising"]["state"] == "error"
    started = time.monotonic()
    r = txt2img(client, "a house, slowly")
    assert r.status_code == 400 and "slow" in r.text and "longer than 2 s" in r.text
    assert time.monotonic() - started < 20
    assert statuses(client)["slow"]["state"] == "error"
    # other jobs run, and the switched-off hooks no longer run
    assert txt2img(client, "boom").status_code == 200
    assert txt2img(client, "a house, slowly").status_code == 200
    assert ctx.store.count() == before + 2


def test_the_switch_applies_at_the_next_start(served, settings):
    from webui.app import create_context

    ctx, client, url = served
    gradio = Client(url, verbose=False)
    table, note = gradio.predict(name="hello", api_name="/extension_disable")
    assert "disabled at the next start" in note
    state = json.loads((Path(settings.data_dir) / "extensions.json").read_text())
    assert state["disabled"] == ["hello"]
    # still running now, off after a restart
    assert client.get("/ext/hello/greeting").status_code == 200
    later = create_context(settings)
    assert later.extensions.statuses["hello"].state == "disabled"
    assert later.extensions.routers() == []
    gradio.predict(name="hello", api_name="/extension_enable")
    assert create_context(settings).extensions.statuses["hello"].state == "loaded"
