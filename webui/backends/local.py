"""The in-process backend: the engine runs on this machine's device (the default)."""

from __future__ import annotations

from webui import engine
from webui.backends.base import Backend
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.request import GenerationRequest


class InProcessBackend(Backend):
    """Today's device worker: ``engine.run(manager, request, progress)`` in this process.

    ``device_wrapper``: on a Hugging Face ZeroGPU Space ``spaces.GPU`` wraps the engine call
    alone, so the GPU is held for the generation, not for the wait in line nor the writes."""

    name = "local"
    slots = 1

    def __init__(self, manager, device_wrapper=None):
        self.manager = manager
        self._run = device_wrapper(engine.run) if device_wrapper else engine.run

    def run(self, req: GenerationRequest, progress: JobProgress) -> GenerationResult:
        return self._run(self.manager, req, progress)

    def resident(self) -> str | None:
        current = self.manager.current
        return current.info.name if current is not None else None

    def describe(self) -> str:
        return f"in-process on {self.manager.device}"
