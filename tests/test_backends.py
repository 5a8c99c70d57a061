"""The backend seam without a cluster: the default backend, the --backend/--ray-* flags and
their messages, the wire format (lossless image bytes and parameters), a queue with two
slots (one turn per worker)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from tests.helpers import small_request
from webui.config import Settings, SettingsError, check_backend, parse_settings
from webui.queue import DeviceQueue


def wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_default_backend_is_in_process(ctx):
    assert ctx.settings.backend == "local"
    assert ctx.jobs.backend.name == "local" and ctx.jobs.queue.slots == 1
    out = ctx.jobs.run(small_request(), "alice")
    assert len(out.saved) == 1
    assert ctx.jobs.backend.resident() == "tiny-sdxl-a"


@pytest.mark.parametrize("argv, message", [
    (["--ray-workers", "2"], "--ray-workers needs --backend ray"),
    (["--ray-address", "h:1", "--ray-workers", "2"], "need --backend ray"),
    (["--backend", "ray", "--ray-min-workers", "2"], "give both --ray-min-workers"),
    (["--backend", "ray", "--ray-min-workers", "3", "--ray-max-workers", "2"],
     "--ray-min-workers (3) is above --ray-max-workers (2)"),
    (["--backend", "ray", "--ray-workers", "2", "--ray-min-workers", "1",
      "--ray-max-workers", "2"], "not both"),
    (["--backend", "ray", "--ray-workers", "0"], "--ray-workers must be at least 1"),
    (["--backend", "ray", "--ray-job-timeout", "0"], "--ray-job-timeout must be a positive"),
])
def test_backend_flags_refuse_what_cannot_work(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse_settings(argv)
    assert message in capsys.readouterr().err


def test_backend_flags_parse():
    s = parse_settings(["--backend", "ray", "--ray-address", "10.0.0.1:6379",
                        "--ray-min-workers", "1", "--ray-max-workers", "4",
                        "--ray-models-per-worker", "3"])
    assert (s.backend, s.ray_address, s.ray_min_workers, s.ray_max_workers,
            s.ray_models_per_worker) == ("ray", "10.0.0.1:6379", 1, 4, 3)


def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(SettingsError, match=r"pip install 'ray\[serve\]==2.60.0'"):
        check_backend(Settings(backend="ray"))


def test_wire_is_lossless_and_leaves_app_only_fields_out():
    from webui.backends.wire import request_to_wire, result_from_wire, result_to_wire
    from webui.engine.result import GeneratedImage, GenerationResult

    req = small_request(script="X/Y/Z plot", script_args={"x": 1},
                        alwayson_scripts={"s": {"args": []}}, notices=("app",))
    wire = request_to_wire(req)
    assert wire.script is None and wire.script_args is None and wire.alwayson_scripts == {}
    assert wire.prompt == req.prompt and wire.seed == req.seed
    pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    result = GenerationResult(wire, [GeneratedImage(image, 5, "a cat\nSteps: 2", {"Steps": 2})],
                              model_name="m", model_hash="h", seed=5, duration=1.5)
    result.request = small_request(notices=("app", "worker"))
    back = result_from_wire(result_to_wire(result), req)
    assert np.array_equal(np.asarray(back.images[0].image), pixels)
    assert (back.images[0].seed, back.images[0].infotext, back.images[0].params) == \
        (5, "a cat\nSteps: 2", {"Steps": 2})
    assert back.request.script == "X/Y/Z plot"  # the app's request, with the worker's notices
    assert back.request.notices == ("app", "worker")
    assert (back.model_name, back.model_hash, back.seed, back.interrupted) == \
        ("m", "h", 5, False)


def test_two_slots_run_two_jobs_at_once_in_fair_order():
    q = DeviceQueue(max_waiting=10, slots=2)
    release = threading.Event()
    running, order = set(), []
    lock = threading.Lock()

    def job(owner):
        with q.turn(owner):
            with lock:
                running.add(owner)
                order.append(owner)
            release.wait(10)
            with lock:
                running.discard(owner)

    threads = []
    for owner in ("alice", "alice#2", "bob"):
        t = threading.Thread(target=job, args=(owner,))
        t.start()
        threads.append(t)
        wait_until(lambda o=owner: q.position_of(o) is not None)
    wait_until(lambda: len(running) == 2)
    assert q.position_of("alice") == 0 and q.position_of("alice#2") == 0
    assert q.position_of("bob") == 1
    release.set()
    for t in threads:
        t.join(10)
    assert order[2] == "bob" and not running
    with pytest.raises(ValueError, match="at least one slot"):
        DeviceQueue(slots=0)


def test_queue_prefers_jobs_on_checkpoints_some_worker_holds():
    """A backend with workers says which checkpoints they hold (a set): among the fair
    candidates, a job on one of them goes first, within the bounded wait."""
    q = DeviceQueue(max_waiting=10, resident=lambda: frozenset({"b", "c"}))
    release = threading.Event()
    order = []

    def job(owner, model, hold=False):
        with q.turn(owner, model=model):
            order.append(owner)
            if hold:
                release.wait(10)

    first = threading.Thread(target=job, args=("x", "b", True))
    first.start()
    wait_until(lambda: q.position_of("x") == 0)
    threads = []
    for owner, model in (("y", "a"), ("z", "c")):
        t = threading.Thread(target=job, args=(owner, model))
        t.start()
        threads.append(t)
        wait_until(lambda o=owner: q.position_of(o) is not None)
    release.set()
    for t in [first, *threads]:
        t.join(10)
    assert order == ["x", "z", "y"]  # y (fair-next, on "a") waits one turn for z (on "c")
