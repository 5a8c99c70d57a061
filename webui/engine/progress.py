"""How the engine reports progress and learns it must stop, without knowing who listens."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


class Interrupted(Exception):
    """Raised inside a denoising loop when the job's owner pressed Stop."""


@dataclass
class JobProgress:
    """Progress of one job: written by the engine, read by the UI/API of the job's owner."""

    total_steps: int = 0
    done_steps: int = 0
    started: float = field(default_factory=time.monotonic)
    stop_event: threading.Event = field(default_factory=threading.Event)
    listeners: list = field(default_factory=list)
    queue_position: int | None = None  # while waiting for the device: 1 = next
    queue_eta: float | None = None
    preview_every: int = 0  # live preview every N steps; 0 = off
    preview: object = None  # the latest preview (PIL image), for the job's owner only
    preview_step: int = 0
    # Skip (A1111's): the image being made is finished as it is now, the job goes on
    skip_event: threading.Event = field(default_factory=threading.Event)
    skipped_images: int = 0

    def queued(self, position: int, eta: float | None) -> None:
        """Waiting in line at ``position``; listeners see it like a step."""
        self.queue_position, self.queue_eta = position, eta
        for listener in self.listeners:
            listener(self)

    def start(self, total_steps: int) -> None:
        self.queue_position = None
        self.total_steps = total_steps
        self.done_steps = 0
        self.started = time.monotonic()

    def step(self) -> None:
        """One denoising step finished; notify listeners; raise ``Interrupted`` on Stop."""
        self.done_steps += 1
        for listener in self.listeners:
            listener(self)
        if self.stop_event.is_set():
            raise Interrupted()

    def stop(self) -> None:
        self.stop_event.set()

    def skip(self) -> None:
        """Finish the current image (batch) as it is and go on with the next one."""
        self.skip_event.set()

    def take_skip(self) -> bool:
        """True once for each Skip pressed (the engine acts on it)."""
        if self.skip_event.is_set():
            self.skip_event.clear()
            self.skipped_images += 1
            return True
        return False

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    @property
    def fraction(self) -> float:
        return self.done_steps / self.total_steps if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, extrapolated from the steps done so far."""
        if not self.done_steps or not self.total_steps:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done_steps * (self.total_steps - self.done_steps)

    def describe(self) -> str:
        if self.queue_position is not None:
            wait = f", about {self.queue_eta:.0f}s" if self.queue_eta is not None else ""
            return f"Queued: position {self.queue_position}{wait}"
        eta = self.eta_seconds
        text = f"Step {self.done_steps}/{self.total_steps}"
        return text + (f", ETA {eta:.0f}s" if eta is not None else "")
