"""Running jobs: one at a time on the device, each with its owner's progress and Stop.

Gradio's queue (one shared concurrency id for every generation event) orders the jobs; the
device lock here also covers callers that bypass that queue, so two jobs never share the GPU.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from webui.config import Limits
from webui.engine.progress import JobProgress
from webui import engine
from webui.engine.result import GenerationResult
from webui.history.store import HistoryStore, SavedImage
from webui.models.manager import ModelManager
from webui.request import GenerationRequest, validate

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    result: GenerationResult
    saved: list[SavedImage]


class JobRunner:
    """Validates a request, runs it on the engine, records its images."""

    def __init__(self, manager: ModelManager, store: HistoryStore, limits: Limits):
        self.manager = manager
        self.store = store
        self.limits = limits
        self._device_lock = threading.Lock()
        self._active: dict[str, JobProgress] = {}
        self._active_lock = threading.Lock()

    def run(self, req: GenerationRequest, owner: str = "local",
            progress: JobProgress | None = None) -> JobOutcome:
        """Run ``req`` for ``owner``; raises ``RequestError``/model errors with clear messages."""
        validate(req, self.limits)
        progress = progress or JobProgress()
        with self._active_lock:
            self._active[owner] = progress
        try:
            with self._device_lock:
                if progress.stopped:  # Stop pressed while waiting
                    return JobOutcome(GenerationResult(req, interrupted=True), [])
                result = engine.run(self.manager, req, progress)
                saved = self.store.record(result, owner=None if owner == "local" else owner)
            return JobOutcome(result, saved)
        finally:
            with self._active_lock:
                if self._active.get(owner) is progress:
                    del self._active[owner]

    def stop(self, owner: str) -> bool:
        """Stop ``owner``'s running job (nobody else's). True if there was one."""
        with self._active_lock:
            progress = self._active.get(owner)
        if progress is None:
            return False
        progress.stop()
        return True

    def progress_of(self, owner: str) -> JobProgress | None:
        with self._active_lock:
            return self._active.get(owner)
