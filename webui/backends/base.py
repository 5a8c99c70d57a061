"""Where jobs run: the one small interface between the job runner and the device(s).

The job runner (webui.jobs) validates a request, gives it its turn in the fair queue and
writes its files and history rows; a backend only *runs* a validated request:
``backend.run(request, progress) -> GenerationResult``. While it runs, the backend streams
the job's steps and live previews into ``progress`` and watches ``progress.stopped`` /
``progress.skip_event`` (Stop and Skip); it returns images with the parameters that made
them, or raises an error whose message the person can act on.

``slots`` is how many jobs it runs at once (the queue lets that many through together);
``resident()`` names the checkpoint it holds now (or the set its workers hold), for the
queue's checkpoint preference (None: unknown).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.request import GenerationRequest


class WorkerLost(RuntimeError):
    """The worker running a job went away (and the one retry did too); nothing was saved."""


class Backend(ABC):
    """Runs validated generation requests somewhere: in this process or on workers."""

    name: str = "backend"
    slots: int = 1

    @abstractmethod
    def run(self, req: GenerationRequest, progress: JobProgress) -> GenerationResult:
        """Run ``req`` (already validated) to its end, Stop or failure."""

    def resident(self) -> str | frozenset[str] | None:
        """The checkpoint on the device now (or those its workers hold), if it knows."""
        return None

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        """Give back what it holds (workers, cluster connection); idempotent."""
