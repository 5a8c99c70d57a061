"""The one queue in front of the device, fair across owners.

Jobs are taken round-robin across owners instead of first come, first served: the owner
served least recently goes next (their oldest job), so one user's long batch no longer
holds back another user's single image; within one owner jobs keep their order. Among the
jobs that are fair to run next (each owner's oldest), one for the checkpoint already on the
device is preferred, so checkpoint switches stay rare, but a job is passed over at most
``MAX_PASSES`` times that way (a bounded wait). Each owner may have ``max_per_owner`` jobs
waiting ("you already have N jobs waiting"), the whole line ``max_waiting`` ("queue full,
try again"); a job stopped while it waits leaves without ever running.

Positions are each job's place in the order the line will take (round-robin projected
forward); an ETA is the running job's time left plus an average job for each one ahead.

``slots``: how many jobs may hold a turn at once (1: one device; N: N remote workers, as the
Ray Serve backend has, webui.backends). The line's order is the same; N jobs run together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_PASSES = 2  # times a fair-next job may be passed over for one on the resident checkpoint


class QueueFull(RuntimeError):
    """The queue holds its maximum number of waiting jobs (or this owner holds theirs)."""


class LeftQueue(Exception):
    """The job was stopped while it waited."""


@dataclass(eq=False)
class Ticket:
    """One job's place in line; ``started``/``released``: when its device turn began and
    ended (``time.monotonic()``; None until then)."""

    owner: str
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    released: float | None = None
    # seconds this job still needs once running (a training job knows; None: the average)
    remaining: object = None
    model: str | None = None  # the checkpoint it runs on (for checkpoint affinity)
    passed: int = 0  # times it was fair-next but a job on the resident checkpoint went first

    @property
    def group(self) -> str:
        """Whose turn this is in the round-robin: the owner (a training job's key is
        ``<owner>#train-<id>``: the same person)."""
        return self.owner.split("#", 1)[0]


def resident_set(resident) -> set[str]:
    """What ``resident()`` said as a set: one name (one device), several (the checkpoints
    some worker holds), or None (unknown)."""
    if resident is None:
        return set()
    return {resident} if isinstance(resident, str) else set(resident)


class DeviceQueue:
    """A fair lock: ``with queue.turn(owner, stopped, on_wait):`` runs when it is your turn.

    ``resident()``: the checkpoint on the device now, or the set of checkpoints some worker
    holds (None: unknown; no affinity then).
    ``on_release``: callables given each ``Ticket`` the moment its turn ends and the next job
    may use the device (after the slot is freed; they must not block). ``slots``: turns held
    at once (one per worker)."""

    def __init__(self, max_waiting: int = 64, max_per_owner: int | None = None,
                 resident=None, slots: int = 1):
        if slots < 1:
            raise ValueError(f"a queue needs at least one slot, got {slots}")
        self.max_waiting = max_waiting
        self.max_per_owner = max_per_owner or max_waiting
        self.resident = resident or (lambda: None)
        self.slots = slots
        self.on_release: list = []
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: list[Ticket] = []  # at most ``slots``
        self._durations: deque[float] = deque(maxlen=20)
        self._served: dict[str, int] = {}  # group -> sequence number of its last turn
        self._turns = 0

    def turn(self, owner: str, stopped=lambda: False, on_wait=None, remaining=None,
             model: str | None = None):
        """Context manager: wait in line (calling ``on_wait(position, eta)`` as the line
        moves), run the body alone on the device, then let the next one in. ``remaining()``:
        the seconds this job still needs while it runs (long jobs such as training), so the
        ETAs of those behind it stay honest; ``model``: its checkpoint (affinity)."""
        return _Turn(self, owner, stopped, on_wait, remaining, model)

    def _enter(self, owner: str, stopped, on_wait, remaining=None, model=None) -> Ticket:
        ticket = Ticket(owner, remaining=remaining, model=model)
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"The queue is full ({self.max_waiting} jobs waiting); "
                                "try again in a moment.")
            mine = sum(1 for t in self._waiting if t.group == ticket.group)
            if mine >= self.max_per_owner:
                raise QueueFull(f"You already have {mine} jobs waiting (at most "
                                f"{self.max_per_owner}); wait for one to finish.")
            self._waiting.append(ticket)
            last = None
            try:
                while len(self._running) >= self.slots or self._choose() is not ticket:
                    if stopped():
                        raise LeftQueue()
                    state = (self._position(ticket), self._eta(ticket))
                    # a new place in line, or an ETA a second off what was said
                    said = (state[0], None if state[1] is None else int(state[1]))
                    if on_wait and said != last:
                        on_wait(*state)
                        last = said
                    self._cond.wait(timeout=0.25)
            except BaseException:
                self._waiting.remove(ticket)
                self._cond.notify_all()
                raise
            self._take(ticket)
            return ticket

    # -- who goes next ---------------------------------------------------------------------
    def _fair_heads(self, served: dict[str, int], waiting) -> list[Ticket]:
        """Each group's oldest waiting job, the least recently served group first (never
        served: first of all; ties: the older job first)."""
        heads: dict[str, Ticket] = {}
        for t in waiting:
            heads.setdefault(t.group, t)
        return sorted(heads.values(), key=lambda t: (served.get(t.group, -1), t.created))

    def _choose(self) -> Ticket | None:
        """The job that runs next: the fair one, or a fair candidate on the resident
        checkpoint while the fair one has been passed over fewer than MAX_PASSES times."""
        heads = self._fair_heads(self._served, self._waiting)
        if not heads:
            return None
        first = heads[0]
        hot = resident_set(self.resident())
        if not hot or first.model is None or first.model in hot or first.passed >= MAX_PASSES:
            return first
        for t in heads[1:]:
            if t.model in hot:
                return t
        return first

    def _take(self, ticket: Ticket) -> None:
        for t in self._fair_heads(self._served, self._waiting):
            if t is ticket:
                break
            t.passed += 1  # it was fair-next, and waits one more turn
        self._waiting.remove(ticket)
        self._turns += 1
        self._served[ticket.group] = self._turns
        self._running.append(ticket)
        ticket.started = time.monotonic()

    def _order(self) -> list[Ticket]:
        """The waiting jobs in the order the line will take them (fair rotation projected
        forward; the resident-checkpoint preference is not foreseen)."""
        served, waiting, out = dict(self._served), list(self._waiting), []
        turn = self._turns
        while waiting:
            nxt = self._fair_heads(served, waiting)[0]
            waiting.remove(nxt)
            turn += 1
            served[nxt.group] = turn
            out.append(nxt)
        return out

    def _leave(self, ticket: Ticket) -> None:
        with self._cond:
            ticket.released = time.monotonic()
            if ticket.remaining is None:  # a training's hour says nothing of an image's
                self._durations.append(ticket.released - ticket.started)
            self._running.remove(ticket)
            self._cond.notify_all()
        for listener in list(self.on_release):
            try:
                listener(ticket)
            except Exception:  # noqa: BLE001 - a listener never breaks the line
                log.exception("queue release listener failed")

    def _position(self, ticket: Ticket) -> int:
        """1 = next to run."""
        return self._order().index(ticket) + 1

    def _eta(self, ticket: Ticket) -> float | None:
        """The running job's time left (its own estimate, else the average job's) plus
        an average job for each one ahead in line (with N slots: the first slot to free up,
        then one average job per N ahead)."""
        avg = sum(self._durations) / len(self._durations) if self._durations else None
        lefts = [t.remaining() if t.remaining is not None else None for t in self._running]
        lefts = [avg if x is None else x for x in lefts]
        if len(self._running) < self.slots:
            lefts.append(avg)  # a free slot: taken at once (said as an average job, as before)
        known = [x for x in lefts if x is not None]
        if not known:
            return None
        left = min(known)
        ahead = (self._position(ticket) - 1) // self.slots
        if ahead and avg is None:
            return None
        return left + (avg or 0.0) * ahead

    def position_of(self, owner: str) -> int | None:
        """Position of ``owner``'s first waiting job (0 = running now, None = no job)."""
        with self._cond:
            if any(t.owner == owner for t in self._running):
                return 0
            for i, t in enumerate(self._order(), start=1):
                if t.owner == owner:
                    return i
            return None

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


class _Turn:
    def __init__(self, queue: DeviceQueue, owner: str, stopped, on_wait, remaining=None,
                 model=None):
        self.queue, self.owner, self.stopped, self.on_wait = queue, owner, stopped, on_wait
        self.remaining, self.model = remaining, model

    def __enter__(self):
        self.ticket = self.queue._enter(self.owner, self.stopped, self.on_wait, self.remaining,
                                        self.model)
        return self.ticket

    def __exit__(self, *exc):
        self.queue._leave(self.ticket)
        return False
