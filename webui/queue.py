"""The one queue in front of the device: FIFO across every user, tab and API client.

Each waiting job knows its position; an ETA comes from the average of recent job durations.
A full queue refuses new jobs at once ("queue full, try again") instead of letting callers
hang, and a job stopped while it waits leaves the queue without ever running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """The queue holds its maximum number of waiting jobs."""


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


class DeviceQueue:
    """A FIFO lock: ``with queue.turn(owner, stopped, on_wait):`` runs when it is your turn.

    ``on_release``: callables given each ``Ticket`` the moment its turn ends and the next job
    may use the device (after the slot is freed; they must not block)."""

    def __init__(self, max_waiting: int = 64):
        self.max_waiting = max_waiting
        self.on_release: list = []
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: Ticket | None = None
        self._durations: deque[float] = deque(maxlen=20)

    def turn(self, owner: str, stopped=lambda: False, on_wait=None, remaining=None):
        """Context manager: wait in line (calling ``on_wait(position, eta)`` as the line
        moves), run the body alone on the device, then let the next one in. ``remaining()``:
        the seconds this job still needs while it runs (long jobs such as training), so the
        ETAs of those behind it stay honest."""
        return _Turn(self, owner, stopped, on_wait, remaining)

    def _enter(self, owner: str, stopped, on_wait, remaining=None) -> Ticket:
        ticket = Ticket(owner, remaining=remaining)
        with self._cond:
            if len(self._waiting) >= self.max_waiting:
                raise QueueFull(f"The queue is full ({self.max_waiting} jobs waiting); "
                                "try again in a moment.")
            self._waiting.append(ticket)
            last = None
            try:
                while self._running is not None or self._waiting[0] is not ticket:
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
            self._waiting.popleft()
            self._running = ticket
            ticket.started = time.monotonic()
            return ticket

    def _leave(self, ticket: Ticket) -> None:
        with self._cond:
            ticket.released = time.monotonic()
            if ticket.remaining is None:  # a training's hour says nothing of an image's
                self._durations.append(ticket.released - ticket.started)
            self._running = None
            self._cond.notify_all()
        for listener in list(self.on_release):
            try:
                listener(ticket)
            except Exception:  # noqa: BLE001 - a listener never breaks the line
                log.exception("queue release listener failed")

    def _position(self, ticket: Ticket) -> int:
        """1 = next to run."""
        return list(self._waiting).index(ticket) + 1

    def _eta(self, ticket: Ticket) -> float | None:
        """The running job's time left (its own estimate, else the average job's) plus
        an average job for each one ahead in line."""
        avg = sum(self._durations) / len(self._durations) if self._durations else None
        running = self._running
        left = None
        if running is not None and running.remaining is not None:
            left = running.remaining()
        if left is None:
            left = avg
        if left is None:
            return None
        ahead = self._position(ticket) - 1
        if ahead and avg is None:
            return None
        return left + (avg or 0.0) * ahead

    def position_of(self, owner: str) -> int | None:
        """Position of ``owner``'s first waiting job (0 = running now, None = no job)."""
        with self._cond:
            if self._running is not None and self._running.owner == owner:
                return 0
            for i, t in enumerate(self._waiting, start=1):
                if t.owner == owner:
                    return i
            return None

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


class _Turn:
    def __init__(self, queue: DeviceQueue, owner: str, stopped, on_wait, remaining=None):
        self.queue, self.owner, self.stopped, self.on_wait = queue, owner, stopped, on_wait
        self.remaining = remaining

    def __enter__(self):
        self.ticket = self.queue._enter(self.owner, self.stopped, self.on_wait, self.remaining)
        return self.ticket

    def __exit__(self, *exc):
        self.queue._leave(self.ticket)
        return False
