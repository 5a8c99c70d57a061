"""Running jobs: one at a time on the device, each with its owner's progress and Stop.

Every front door (each UI tab, the Gallery's re-run, the A1111 and Stability APIs) calls
``JobRunner.run``; the ``DeviceQueue`` behind it is the single FIFO line for the device, so
positions, ETAs and "queue full" mean the same for everyone.

A job has two parts: its device turn (wait in line, run the engine) and then, after the turn
has ended and the next job is already on the device, writing its files and history rows.
The caller still gets the saved images back from ``run``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from webui.backends import Backend, InProcessBackend
from webui.caller import Caller
from webui.checkpoint_choice import CheckpointChoice
from webui.choices import SAMPLERS
from webui.config import Limits
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.history.store import HistoryStore, SavedImage
from webui.models.manager import ModelManager
from webui.policy import PromptPolicy
from webui.prompting.styles import StyleLibrary
from webui.queue import DeviceQueue, LeftQueue
from webui.ratelimit import RateLimiter
from webui.extensions.api import JobView
from webui.extensions.host import ExtensionHost
from webui.request import GenerationRequest, RequestError, validate

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    result: GenerationResult
    saved: list[SavedImage]


class JobRunner:
    """Validates a request, runs it on the engine, records its images."""

    def __init__(self, manager: ModelManager, store: HistoryStore, limits: Limits,
                 max_queue: int = 64, device_wrapper=None,
                 styles: StyleLibrary | None = None, rate_limiter: RateLimiter | None = None,
                 checkpoint: CheckpointChoice | None = None,
                 policy: PromptPolicy | None = None, extensions: ExtensionHost | None = None,
                 max_per_owner: int | None = None, backend: Backend | None = None):
        self.manager = manager
        # extensions' hooks and scripts (None: none); they see a JobView, never this runner
        self.extensions = extensions
        self.policy = policy  # the prompt policy (None: prompts are not checked)
        # names the checkpoint of a request that names none (None: the first one found)
        self.checkpoint = checkpoint or CheckpointChoice(manager.checkpoint_names)
        self.styles = styles  # the app's styles file (None: the shipped presets)
        self.rate_limiter = rate_limiter  # demo: each visitor's jobs a minute
        # where jobs run (webui.backends): this process's device by default (on a ZeroGPU
        # Space ``device_wrapper`` is spaces.GPU around the engine call alone), or Ray Serve
        self.backend = backend or InProcessBackend(manager, device_wrapper)
        self.store = store
        self.limits = limits
        # fair across owners; jobs on the checkpoint already loaded are preferred (bounded);
        # as many turns at once as the backend runs jobs at once (one per worker)
        self.queue = DeviceQueue(max_queue, max_per_owner, resident=self.backend.resident,
                                 slots=self.backend.slots)
        self._active: dict[str, JobProgress] = {}
        self._active_lock = threading.Lock()
        # writes happen outside the device turn, so two finished jobs may write at once:
        # one at a time keeps the store's numbered file names unique
        self._write_lock = threading.Lock()

    def run(self, req: GenerationRequest, owner: Caller | str = "local",
            progress: JobProgress | None = None) -> JobOutcome:
        """Run ``req`` for ``owner`` (a ``Caller``, or an owner name: ``"local"`` is the local
        user); the outcome's ``result.request`` is the validated request that ran (with its
        ``notices``). Raises ``RequestError``/model errors with clear messages. Its images belong to
        ``owner.owner``; progress, Stop and its place in line go by ``owner.job_key``. A demo
        visitor first spends a rate-limit token (``RateLimited`` when none is left)."""
        caller = job_caller(owner)
        if self.rate_limiter is not None:
            self.rate_limiter.take(caller.job_key)
        # a new, normalised request; a blocked prompt stops here (PromptBlocked), before the
        # queue, so nothing is run or written; warnings ride on it (``policy_warnings``)
        req = self._validate(req, caller)
        key = caller.job_key
        progress = progress or JobProgress()
        view = JobView(owner=caller.owner or "local", mode=req.mode,
                       stopped=lambda: progress.stopped,
                       checkpoint_names=self.manager.checkpoint_names,
                       sampler_names=lambda: SAMPLERS + list(
                           getattr(self.manager, "extra_samplers", None) or ()))
        if self.extensions is not None:
            changed = self.extensions.on_request(view, req)
            if changed is not req:  # an extension's change is checked like any request
                req = self._validate(changed, caller)
        with self._active_lock:
            self._active[key] = progress
        try:
            try:
                result = self._device_turn(req, key, progress, view, caller)
            except LeftQueue:  # Stop pressed while waiting: nothing ran
                return JobOutcome(GenerationResult(req, interrupted=True), [])
            # the turn has ended: the next job runs on the device while this one writes
            if self.extensions is not None:
                for gen in result.images:
                    gen.image = self.extensions.on_image(view, result.request, gen.image)
            saved = self._save(result, caller)
            if self.extensions is not None:
                self.extensions.on_job_done(view, result.request, [s.path for s in saved])
            return JobOutcome(result, saved)
        finally:
            with self._active_lock:
                if self._active.get(key) is progress:
                    del self._active[key]

    def _validate(self, req: GenerationRequest, caller: Caller) -> GenerationRequest:
        """A new, normalised request; a blocked prompt stops here (PromptBlocked), before the
        queue, so nothing is run or written; warnings ride on it (``policy_warnings``); a
        script's arguments are checked here too (``ScriptArgsError``)."""
        req = validate(req, self.limits, self.styles, self.policy,
                       owner=caller.owner or "local",
                       upscalers=getattr(self.manager, "upscalers", None),
                       samplers=getattr(self.manager, "extra_samplers", None),
                       controls=self.manager)  # ControlNet units' model/module names
        if self.extensions is not None:
            req = self.extensions.prepare(req)
        elif req.script or req.alwayson_scripts:
            req = replace(req, alwayson_scripts={})
            if req.script:
                raise RequestError(f"script_name: no script {req.script!r} (no extensions "
                                   "are loaded)")
        if req.model is None:
            req = replace(req, model=self.checkpoint.current())
        return req

    def _device_turn(self, req: GenerationRequest, key: str, progress: JobProgress,
                     view: JobView | None = None,
                     caller: Caller | None = None) -> GenerationResult:
        """Wait in line, then run ``req`` on the backend (or its script, whose pictures each
        go to the backend); the turn ends when this returns."""
        with self.queue.turn(key, lambda: progress.stopped, progress.queued, model=req.model):
            if progress.stopped:
                raise LeftQueue()
            if self.extensions is None or view is None:
                return self.backend.run(req, progress)
            self.extensions.before_generation(view, req)
            if not req.script:
                return self.backend.run(req, progress)

            def generate(cell: GenerationRequest) -> GenerationResult:
                # one picture set of the script's, checked like any request, run at once in
                # this device turn (the models it needs stay cached)
                cell = replace(cell, script=None, script_args=None)
                return self.backend.run(self._validate(cell, caller), progress)

            view.generate = generate
            view.progress = lambda done, total: None
            return self.extensions.run_script(view, req)

    def _save(self, result: GenerationResult, caller: Caller) -> list[SavedImage]:
        """Write ``result``'s images and rows (off the device turn), one job at a time."""
        with self._write_lock:
            return self.store.record(result, owner=caller.owner)

    def stop(self, owner: Caller | str) -> bool:
        """Stop ``owner``'s running job (nobody else's). True if there was one."""
        progress = self.progress_of(owner)
        if progress is None:
            return False
        progress.stop()
        return True

    def stop_all(self) -> int:
        """Stop every running or waiting job, whoever's (the server is shutting down); they
        end at their next step. Returns how many there were."""
        with self._active_lock:
            jobs = list(self._active.values())
        for progress in jobs:
            progress.stop()
        return len(jobs)

    def skip(self, owner: Caller | str) -> bool:
        """Skip the image ``owner``'s running job is making (nobody else's): it is kept as it
        is and the job goes on with the next. True if there was a job."""
        progress = self.progress_of(owner)
        if progress is None:
            return False
        progress.skip()
        return True

    def position_of(self, owner: Caller | str) -> int | None:
        """``owner``'s place in line: 0 running, 1 next, None no job."""
        return self.queue.position_of(job_caller(owner).job_key)

    def progress_of(self, owner: Caller | str) -> JobProgress | None:
        with self._active_lock:
            return self._active.get(job_caller(owner).job_key)


def job_caller(owner: Caller | str) -> Caller:
    """A ``Caller`` as is; an owner name as the caller it names (``"local"``: the local user)."""
    return owner if isinstance(owner, Caller) else Caller.named(owner)
