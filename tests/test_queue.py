"""One FIFO line for the device: order, positions, "queue full", Stop while waiting."""

from __future__ import annotations

import threading
import time

import pytest

from tests.helpers import small_request
from webui.engine.progress import JobProgress
from webui.queue import DeviceQueue, LeftQueue, QueueFull


def wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_fifo_order_and_positions_across_owners():
    q = DeviceQueue(max_waiting=10)
    release = threading.Event()
    order = []
    seen_positions = {}

    def job(owner, hold=False):
        def on_wait(pos, eta):
            seen_positions.setdefault(owner, []).append(pos)
        with q.turn(owner, on_wait=on_wait):
            order.append(owner)
            if hold:
                release.wait(10)

    first = threading.Thread(target=job, args=("alice", True))
    first.start()
    wait_until(lambda: q.position_of("alice") == 0)
    threads = []
    for owner in ("bob", "carol", "dave"):
        t = threading.Thread(target=job, args=(owner,))
        t.start()
        threads.append(t)
        wait_until(lambda o=owner: q.position_of(o) is not None)
    assert [q.position_of(o) for o in ("alice", "bob", "carol", "dave")] == [0, 1, 2, 3]
    release.set()
    for t in [first, *threads]:
        t.join(10)
    assert order == ["alice", "bob", "carol", "dave"]
    assert seen_positions["dave"][0] == 3 and q.position_of("dave") is None


def test_full_queue_refuses_at_once():
    q = DeviceQueue(max_waiting=1)
    release = threading.Event()

    def hold():
        with q.turn("a"):
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    wait_until(lambda: q.position_of("a") == 0)
    waiter = threading.Thread(target=lambda: q.turn("b").__enter__())
    waiter.start()
    wait_until(lambda: q.waiting == 1)
    start = time.monotonic()
    with pytest.raises(QueueFull, match="queue is full"):
        q.turn("c").__enter__()
    assert time.monotonic() - start < 1
    release.set()
    holder.join(10)


def test_stop_while_waiting_leaves_the_line():
    q = DeviceQueue()
    release = threading.Event()

    def hold():
        with q.turn("a"):
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    wait_until(lambda: q.position_of("a") == 0)
    stop = threading.Event()
    result = {}

    def waiter():
        try:
            with q.turn("b", stopped=stop.is_set):
                result["ran"] = True
        except LeftQueue:
            result["left"] = True

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: q.position_of("b") == 1)
    stop.set()
    t.join(10)
    assert result == {"left": True} and q.position_of("b") is None
    release.set()
    holder.join(10)


def test_job_stopped_in_line_writes_nothing(ctx):
    """A real generation job queued behind another and stopped never runs or saves."""
    release = threading.Event()

    def hold():
        with ctx.jobs.queue.turn("someone-else"):
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    wait_until(lambda: ctx.jobs.position_of("someone-else") == 0)
    progress = JobProgress()
    described = []
    progress.listeners.append(lambda p: described.append(p.describe()))
    outcome = {}
    t = threading.Thread(target=lambda: outcome.setdefault(
        "o", ctx.jobs.run(small_request(), owner="me", progress=progress)))
    t.start()
    wait_until(lambda: ctx.jobs.position_of("me") == 1)
    assert ctx.jobs.stop("me")
    t.join(20)
    release.set()
    holder.join(20)
    assert outcome["o"].result.interrupted and outcome["o"].saved == []
    assert described and described[0].startswith("Queued: position 1")
    assert ctx.store.count() == 0
