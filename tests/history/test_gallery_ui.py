"""Gallery and PNG Info tabs: what their handlers give the user."""

from __future__ import annotations

import socket
import time

import pytest

from tests.history.conftest import SAMPLES, make_result
from webui.history.reuse import fields_from_record, request_from_record
from webui.ui.pnginfo import png_info
from webui.ui.sendto import field_updates


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"samples not found at {SAMPLES}")
@pytest.mark.parametrize("name, source, seed", [
    ("a1111_sdxl.png", "a1111", 3782896554), ("a1111_jpeg_exif.jpg", "a1111", 3623174757),
    ("comfyui_sdxl.png", "comfyui", 422847914351919), ("fooocus.png", "fooocus", None),
    ("invokeai_v6_sdxl.png", "invokeai", 3951921344), ("novelai_v45.png", "novelai", 2043807047),
])
def test_png_info_reads_other_tools(name, source, seed):
    rows, text, message, payload = png_info(str(SAMPLES / name))
    table = dict(rows)
    assert table["Source"] == source and source in message
    assert table["Prompt"] and text.startswith(table["Prompt"][:20])
    if seed is not None:
        assert payload["seed"] == seed and table["Seed"] == str(seed)


def test_png_info_bad_input_gives_plain_messages(tmp_path):
    from PIL import Image

    assert png_info(None)[2].startswith("Drop an image")
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert png_info(str(plain))[:2] == ([], "") and "no generation parameters" in png_info(
        str(plain))[2]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    assert "not an image" in png_info(str(junk))[2]
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text("parameters", "Steps: banana, Seed: ,,,\n\x00Negative prompt:")
    odd = tmp_path / "odd.png"
    Image.new("RGB", (8, 8)).save(odd, pnginfo=meta)
    rows, _, message, _ = png_info(str(odd))  # malformed metadata: no crash, something shown
    assert rows and message


def test_gallery_page_lists_thumbnails_and_send_payload(ctx):
    from webui.ui.history import build_gallery_tab
    import gradio as gr

    saved = ctx.store.record(make_result("a gallery cat", seeds=(5, 6)))
    with gr.Blocks():
        tab = build_gallery_tab(ctx)
    items, ids, page, info, *_ = tab.load(None)
    assert ids == [saved[1].id, saved[0].id] and page == 0 and info.startswith("2 image(s)")
    assert all(path.endswith(".webp") for path, _ in items)
    row = ctx.store.get(saved[0].id)
    fields = fields_from_record(row, "x.png")
    names = ["prompt", "negative_prompt", "seed", "width", "model"]
    assert field_updates(fields, names)[:4] == ["a gallery cat", "", 5, 64]


def test_rerun_same_seed_reproduces_the_image(ctx):
    from PIL import Image
    import numpy as np
    from tests.helpers import small_request

    first = ctx.jobs.run(small_request(seed=4242)).saved[0]
    row = ctx.store.get(first.id)
    again = ctx.jobs.run(request_from_record(row)).saved[0]
    varied = ctx.jobs.run(request_from_record(row, vary_seed=True)).result
    with Image.open(first.path) as a, Image.open(again.path) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert varied.images[0].seed != 4242
    assert ctx.store.get(again.id).seed == 4242


# -- the Gallery's re-run through the real Gradio HTTP path -----------------------------------

@pytest.fixture
def served(ctx):
    from webui.server.uvicorn_server import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = serve(ctx, block=False, port=port)
    try:
        yield ctx, demo
    finally:
        demo.close()


class Session:
    """One browser session against the served app: events joined and read as a page does."""

    def __init__(self, demo):
        import uuid

        import httpx

        self.demo = demo.demo
        self.hash = uuid.uuid4().hex[:11]
        self.http = httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=120)

    def fn(self, name: str = None, elem_id: str = None) -> int:
        """The event by its function's name, or the click of the button with ``elem_id``."""
        block = None
        if elem_id is not None:
            block = next(b._id for b in self.demo.blocks.values()
                         if getattr(b, "elem_id", None) == elem_id)
        for i, f in self.demo.fns.items():
            if name is not None and getattr(f.fn, "__name__", None) == name:
                return i
            if block is not None and any(t[0] == block for t in f.targets):
                return i
        raise LookupError(name or elem_id)

    def join(self, fn_index: int, data: list, event_data=None) -> str:
        r = self.http.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": fn_index, "session_hash": self.hash,
            "event_data": event_data, "trigger_id": None})
        assert r.status_code == 200, r.text
        return r.json()["event_id"]

    def messages(self, event_id: str, sink: list | None = None) -> list[dict]:
        """Every message of ``event_id`` until it completes (appended to ``sink`` as they
        arrive)."""
        import json

        sink = [] if sink is None else sink
        with self.http.stream("GET", f"/gradio_api/queue/data?session_hash={self.hash}") as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") != event_id:
                    continue
                sink.append(msg)
                if msg.get("msg") == "process_completed":
                    return sink
        raise AssertionError(f"event {event_id} never completed: {sink}")

    def call(self, fn_index: int, data: list, event_data=None) -> list:
        done = self.messages(self.join(fn_index, data, event_data))[-1]
        assert done["success"], done
        return done["output"]["data"]

    def click_image(self, index: int = 0):
        """Load the Gallery's first page, then click its ``index``-th image (sets the
        payload the re-run buttons read)."""
        self.call(self.fn("initial"), [])
        self.call(self.fn("show"), [None, False, [], None],
                  {"index": index, "value": None, "selected": True})


def test_gallery_rerun_reports_progress_and_stops_like_a_tab_job(served):
    """Re-run is the tabs' run: it waits in the one device line (and says so), reports its
    steps, and the Gallery's Stop button stops it; finished, it opens the new image."""
    import threading

    from tests.helpers import small_request
    from webui.caller import Caller
    from webui.engine.progress import JobProgress

    ctx, demo = served
    first = ctx.jobs.run(small_request(seed=77, steps=2)).saved[0]
    page = Session(demo)
    page.click_image()
    me = Caller(None, True, session=page.hash)  # the local browser session's job key

    # another owner's job holds the device, so the re-run waits in line first
    held_started, held_release = threading.Event(), threading.Event()
    held = JobProgress()
    held.listeners.append(lambda _p: (held_started.set(), held_release.wait(60)))
    holder = threading.Thread(target=lambda: ctx.jobs.run(small_request(steps=2),
                                                          owner="someone-else", progress=held))
    holder.start()
    assert held_started.wait(120)

    messages: list[dict] = []
    event = page.join(page.fn("rerun_same_seed"), [None])
    reader = threading.Thread(target=page.messages, args=(event, messages), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while ctx.jobs.progress_of(me) is None or ctx.jobs.position_of(me) != 1:
        assert time.monotonic() < deadline, "the re-run never joined the device line"
        time.sleep(0.02)
    job = ctx.jobs.progress_of(me)
    at_step, gate = threading.Event(), threading.Event()
    job.listeners.append(lambda p: p.done_steps >= 1 and (at_step.set(), gate.wait(60)))
    held_release.set()
    holder.join(60)
    assert at_step.wait(120), "the re-run never ran"

    def progress_descs():
        return [u.get("desc") or "" for m in list(messages) if m.get("msg") == "progress"
                for u in m.get("progress_data") or []]

    while not any("1/2" in d for d in progress_descs()):
        assert time.monotonic() < deadline, f"no step progress reached the page: {messages}"
        time.sleep(0.02)
    page.http.post("/gradio_api/run/predict", json={  # the Gallery's own Stop button
        "data": [], "fn_index": page.fn(elem_id="gallery_stop"),
        "session_hash": page.hash, "event_data": None, "trigger_id": None})
    assert job.stopped
    gate.set()
    reader.join(120)
    done = messages[-1]
    assert done["msg"] == "process_completed" and done["success"], done
    assert done["output"]["data"][1] == "Stopped before an image was finished."
    descs = progress_descs()
    assert any(d.startswith("Queued: position 1") for d in descs), descs
    assert ctx.store.count() == 2  # the first image and the other owner's: nothing saved

    # run to the end: the same seed again, saved and listed as a new image
    image, status, meta, info, _state = page.call(page.fn("rerun_same_seed"), [None])
    new_id = int(status.split("#", 1)[1].split(" ", 1)[0])
    assert status.endswith("(seed 77).")
    assert f"**#{new_id}**" in meta and "Seed: 77," in info
    assert ctx.store.count() == 3 and ctx.store.get(new_id).seed == 77 and new_id != first.id
