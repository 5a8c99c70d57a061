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


def test_device_turn_ends_before_the_files_are_written(ctx):
    """A job's images are written after its device turn is released: the next job in line
    is already running on the device while the first one's files and rows are written, and
    the first caller still gets its saved images back."""
    from webui.history.store import HistoryStore
    from webui.jobs import JobRunner

    b_on_device = threading.Event()

    class TimedStore(HistoryStore):
        """The real store; ``record`` notes when it starts and ends, and (slow disk) does not
        write until job B runs on the device or 20 s have passed."""

        def __init__(self, base):
            super().__init__(base.engine, base.outputs_dir, base.user_settings)
            self.writes: dict[str, tuple[float, float]] = {}

        def record(self, result, owner=None):
            began = time.monotonic()
            b_on_device.wait(20)
            saved = super().record(result, owner)
            self.writes[result.request.prompt] = (began, time.monotonic())
            return saved

    store = TimedStore(ctx.store)
    runner = JobRunner(ctx.manager, store, ctx.settings.limits)
    released = {}
    runner.queue.on_release.append(lambda t: released.setdefault(t.owner, t.released))

    a_progress, b_progress = JobProgress(), JobProgress()
    a_running, a_go = threading.Event(), threading.Event()
    a_progress.listeners.append(lambda _p: (a_running.set(), a_go.wait(20)))
    b_started = {}

    def on_b_step(_p):
        b_started.setdefault("t", time.monotonic())
        b_on_device.set()

    b_progress.listeners.append(on_b_step)
    outcomes = {}
    a = threading.Thread(target=lambda: outcomes.setdefault("a", runner.run(
        small_request(prompt="job a", seed=1), owner="a", progress=a_progress)))
    b = threading.Thread(target=lambda: outcomes.setdefault("b", runner.run(
        small_request(prompt="job b", seed=2), owner="b", progress=b_progress)))
    a.start()
    assert a_running.wait(120)
    b.start()
    wait_until(lambda: runner.position_of("b") == 1, timeout=60)  # B waits behind A
    a_go.set()
    a.join(120)
    b.join(120)

    a_write_began, a_write_ended = store.writes["job a"]
    assert released["a"] < a_write_began  # the turn was released before the write began
    assert b_started["t"] < a_write_ended  # B ran on the device before A's files were done
    for name in ("a", "b"):  # each caller still gets its saved images and rows back
        (saved,) = outcomes[name].saved
        assert saved.path.is_file() and store.get(saved.id).prompt == f"job {name}"
    assert outcomes["a"].saved[0].path != outcomes["b"].saved[0].path


def test_round_robin_across_owners_and_honest_positions():
    """One user's ten jobs do not hold back another's single one: it runs second."""
    q = DeviceQueue(max_waiting=64)
    release = threading.Event()
    order = []

    def job(owner, hold=False):
        with q.turn(owner):
            order.append(owner)
            if hold:
                release.wait(10)

    blocker = threading.Thread(target=job, args=("admin", True))
    blocker.start()
    wait_until(lambda: q.position_of("admin") == 0)
    threads = []
    for i in range(10):
        t = threading.Thread(target=job, args=("alice",))
        t.start()
        threads.append(t)
        wait_until(lambda n=i + 1: q.waiting == n)
    t = threading.Thread(target=job, args=("bob",))
    t.start()
    threads.append(t)
    wait_until(lambda: q.waiting == 11)
    assert q.position_of("alice") == 1 and q.position_of("bob") == 2
    release.set()
    for t in [blocker, *threads]:
        t.join(10)
    assert order == ["admin", "alice", "bob"] + ["alice"] * 9


def test_a_users_waiting_jobs_are_capped():
    q = DeviceQueue(max_waiting=64, max_per_owner=2)
    release = threading.Event()

    def hold(owner):
        with q.turn(owner):
            release.wait(10)

    threads = [threading.Thread(target=hold, args=("alice",)) for _ in range(3)]
    for i, t in enumerate(threads):
        t.start()
        wait_until(lambda n=i: q.waiting == n)  # one running, then two waiting
    with pytest.raises(QueueFull, match="You already have 2 jobs waiting"):
        with q.turn("alice"):
            pass
    other = threading.Thread(target=hold, args=("bob",))  # someone else still gets in
    other.start()
    wait_until(lambda: q.waiting == 3)
    release.set()
    for t in [*threads, other]:
        t.join(10)


def test_the_resident_checkpoint_is_preferred_within_a_bounded_wait():
    resident = {"name": "base-a"}
    q = DeviceQueue(max_waiting=64, resident=lambda: resident["name"])
    release = threading.Event()
    order = []

    def job(owner, model, hold=False):
        with q.turn(owner, model=model):
            order.append((owner, model))
            resident["name"] = model
            if hold:
                release.wait(10)

    blocker = threading.Thread(target=job, args=("admin", "base-a", True))
    blocker.start()
    wait_until(lambda: q.position_of("admin") == 0)
    waiting = [("alice", "base-b"), ("bob", "base-a"), ("carol", "base-a"), ("dave", "base-a")]
    threads = []
    for i, (owner, model) in enumerate(waiting):
        t = threading.Thread(target=job, args=(owner, model))
        t.start()
        threads.append(t)
        wait_until(lambda n=i + 1: q.waiting == n)
    release.set()
    for t in [blocker, *threads]:
        t.join(10)
    # bob and carol (base-a, loaded) go before alice (base-b), but alice is passed over
    # only twice: she goes before dave
    assert [o for o, _ in order] == ["admin", "bob", "carol", "alice", "dave"]


def test_through_the_job_runner_the_other_users_job_runs_second(ctx):
    from tests.api.conftest import BlockingJob

    started: list[str] = []
    lock = threading.Lock()

    def submit(owner):
        job = JobProgress()

        def first_step(p, seen=[]):
            if p.done_steps == 1 and not seen:
                seen.append(1)
                with lock:
                    started.append(owner)
        job.listeners.append(first_step)
        ctx.jobs.run(small_request(steps=2), owner=owner, progress=job)

    threads = []
    with BlockingJob(ctx):
        for i in range(10):
            threads.append(threading.Thread(target=submit, args=("alice",), daemon=True))
            threads[-1].start()
            wait_until(lambda n=i + 1: ctx.jobs.queue.waiting == n, 60)
        threads.append(threading.Thread(target=submit, args=("bob",), daemon=True))
        threads[-1].start()
        wait_until(lambda: ctx.jobs.queue.waiting == 11, 60)
        assert ctx.jobs.position_of("alice") == 1
        assert ctx.jobs.position_of("bob") == 2
    for t in threads:
        t.join(300)
    assert started == ["alice", "bob"] + ["alice"] * 9
