"""Generation on Ray Serve workers with checkpoint affinity (``--backend ray``).

* ``GenerationWorker`` is a Serve deployment: one replica per GPU (``num_gpus=1``; CPU
  workers reserve ``--ray-worker-cpus``), each with its own ``ModelManager`` over the same
  models folder, running one job at a time (``max_ongoing_requests=1``).
* A request carries its checkpoint as Serve's multiplexed model id: the worker loads it
  through a ``@serve.multiplexed`` loader (``--ray-models-per-worker`` checkpoints, LRU, the
  same count as its manager's RAM cache), and Serve's router sends a request to a worker that
  already holds its checkpoint, so each worker keeps its own hot set.
* ``JobBoard`` is one small Ray actor the app and the workers share: each job's steps,
  latest preview (PNG), where it runs, and its Stop/Skip flags. A worker reports every step
  and reads the flags in the same call (the engine stops at its next step, as in-process);
  the app polls the board for the job it waits on.
* ``RayBackend`` is the app's side: it sends the validated request, relays progress and
  previews into the job's ``JobProgress``, forwards Stop and Skip, and rebuilds the result
  from image bytes and parameters. Workers keep no state but their model caches: the app
  writes every file and history row. A worker that dies mid-job makes the job run once more
  on another worker; if that fails too, or a job sends no news for ``--ray-job-timeout``
  seconds, the job fails with a message that says so (nothing is written for it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import serve

from webui.backends.base import Backend, WorkerLost
from webui.backends.wire import from_png, png_bytes, request_to_wire, result_from_wire, \
    result_to_wire
from webui.engine.progress import JobProgress
from webui.engine.result import GenerationResult
from webui.request import GenerationRequest, RequestError

log = logging.getLogger(__name__)

NAMESPACE = "sdxl-webui"
APP_NAME = "sdxl-webui"
DEPLOYMENT = "GenerationWorker"
REPO_ROOT = Path(__file__).resolve().parents[2]  # the same path on every node (README)
POLL_S = 0.1  # how often the app looks at a running job's progress
BOARD_TIMEOUT_S = 30.0  # a board call that takes longer means the cluster is in trouble

# a worker process that went away: the job may run once more elsewhere
WORKER_GONE = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
               ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
               ray.exceptions.ObjectLostError)


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker builds its model manager from (the app's flags)."""

    models_dir: str  # absolute; the same path on every node
    device: str = "auto"
    dtype: str = "auto"
    models_per_worker: int = 2
    offload: str = "auto"
    vram_budget: str | None = None
    compile: bool = False
    fuse_qkv: bool = False


class JobBoard:
    """Progress, previews and Stop/Skip of remote jobs, keyed by job id; workers' counters.

    A Ray actor (one per app): every call is quick and they run one at a time."""

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.workers: dict[str, dict] = {}

    def open(self, job_id: str) -> None:
        self.jobs[job_id] = {"done": 0, "total": 0, "preview": None, "preview_step": 0,
                             "stop": False, "skip": False, "worker": None, "attempts": 0,
                             "news": time.time()}

    def begin(self, job_id: str, worker: dict) -> bool:
        """A worker starts ``job_id``; False: it was stopped (or forgotten) already."""
        job = self.jobs.get(job_id)
        if job is None:
            return False
        job.update(worker=worker, done=0, total=0, news=time.time())
        job["attempts"] += 1
        return not job["stop"]

    def report(self, job_id: str, done: int, total: int, preview: bytes | None = None,
               preview_step: int = 0) -> tuple[bool, bool]:
        """A step of ``job_id``; returns (stop, skip) for the worker to act on."""
        job = self.jobs.get(job_id)
        if job is None:  # the app gave up on it: stop
            return True, False
        job.update(done=done, total=total, news=time.time())
        if preview is not None:
            job["preview"], job["preview_step"] = preview, preview_step
        skip, job["skip"] = job["skip"], False
        return job["stop"], skip

    def poll(self, job_id: str, have_preview_step: int = 0) -> dict | None:
        """The job's state; its preview only when newer than ``have_preview_step``."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        out = dict(job, age=time.time() - job["news"])
        if job["preview_step"] <= have_preview_step:
            out["preview"] = None
        return out

    def stop(self, job_id: str) -> None:
        if job_id in self.jobs:
            self.jobs[job_id]["stop"] = True

    def skip(self, job_id: str) -> None:
        if job_id in self.jobs:
            self.jobs[job_id]["skip"] = True

    def close(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)

    def running(self) -> dict[str, dict]:
        """job id -> the worker running it (whom to ask, or to kill in a test)."""
        return {k: j["worker"] for k, j in self.jobs.items() if j["worker"] is not None}

    def publish(self, name: str, stats: dict) -> None:
        self.workers[name] = stats

    def forget_worker(self, name: str) -> None:
        self.workers.pop(name, None)

    def worker_stats(self) -> dict[str, dict]:
        return dict(self.workers)


class _Hot:
    """What the multiplexed loader hands Serve: the name of a checkpoint this worker's
    manager holds (the weights live in the manager's RAM cache)."""

    def __init__(self, name: str):
        self.name = name


class GenerationWorker:
    """One Serve replica: a model manager on its own device, one job at a time."""

    def __init__(self, config: WorkerConfig, board):
        from webui import engine  # noqa: F401 - imported now, not in the first job
        from webui.config import parse_size
        from webui.heavy_imports import ensure
        from webui.models.manager import ModelManager
        from webui.models.registry import ModelRegistry
        from webui.upscaling.registry import UpscalerRegistry

        self.config, self.board = config, board
        # diffusers and transformers take a while to import (a minute on a busy CPU): a
        # worker counts as up once they are in, so no job waits on them in silence
        ensure()
        models = Path(config.models_dir)
        if not (models / "Stable-diffusion").is_dir():
            # said at start, on the worker's node: the folder must be at the same path there
            raise RuntimeError(f"models folder {models} not found on this node "
                               f"({ray.util.get_node_ip_address()}): every node needs it at "
                               "the same path (README: Scale out on Ray Serve)")
        registry = ModelRegistry(models / "Stable-diffusion", models / "Lora", models / "VAE")
        # the RAM cache holds exactly the checkpoints Serve believes this worker holds
        self.manager = ModelManager(registry, config.device, config.dtype,
                                    cache=str(config.models_per_worker), offload=config.offload,
                                    device_budget=parse_size(config.vram_budget, "--vram-budget"),
                                    compile=config.compile, fuse_qkv=config.fuse_qkv)
        self.manager.upscalers = UpscalerRegistry.for_manager(models, self.manager)
        # ControlNet's depth preprocessor, from a depth model in this node's models folder
        from webui.controlnet.depth import DepthSource

        self.manager.preprocessors.sources.append(DepthSource(models))
        self.jobs_run = 0
        context = serve.get_replica_context()
        self.name = f"{context.replica_id.unique_id}"
        self.identity = {"name": self.name, "pid": os.getpid(),
                         "node": ray.util.get_node_ip_address(),
                         "device": str(self.manager.device)}

        async def hold_checkpoint(model_id: str) -> _Hot:
            # a load reads the disk (seconds to a minute): off the replica's event loop
            await asyncio.to_thread(self.manager.preload, model_id)
            return _Hot(model_id)

        # wired at init so its LRU size comes from the flags (Serve detects it on the
        # instance; see ray.serve._private.utils._callable_uses_multiplexing)
        self.hold_checkpoint = serve.multiplexed(
            max_num_models_per_replica=config.models_per_worker)(hold_checkpoint)
        self._publish()

    def _publish(self):
        return self.board.publish.remote(self.name, dict(
            self.identity, jobs=self.jobs_run, loads_from_disk=self.manager.loads_from_disk,
            cached=self.manager.cached_names()))

    async def generate(self, job_id: str, req: GenerationRequest, preview_every: int) -> dict:
        """Run ``req`` (validated by the app) on this worker's checkpoint; plain data back."""
        if not await self.board.begin.remote(job_id, self.identity):
            return result_to_wire(GenerationResult(req, interrupted=True))
        try:
            await self.hold_checkpoint(serve.get_multiplexed_model_id())
            return await asyncio.to_thread(self._run, job_id, req, preview_every)
        finally:
            self.jobs_run += 1
            await self._publish()  # before the answer: the app's counters are current

    def _run(self, job_id: str, req: GenerationRequest, preview_every: int) -> dict:
        from webui import engine

        progress = JobProgress(preview_every=preview_every)
        sent = {"step": 0}

        def relay(p: JobProgress) -> None:
            # one call a step: the step and a new preview go out, Stop/Skip come back
            preview = None
            if p.preview is not None and p.preview_step != sent["step"]:
                preview, sent["step"] = png_bytes(p.preview), p.preview_step
            stop, skip = ray.get(self.board.report.remote(
                job_id, p.done_steps, p.total_steps, preview, p.preview_step),
                timeout=BOARD_TIMEOUT_S)
            if stop:
                p.stop()
            if skip:
                p.skip()

        progress.listeners.append(relay)
        return result_to_wire(engine.run(self.manager, req, progress))

    async def stats(self) -> dict:
        return dict(self.identity, jobs=self.jobs_run,
                    loads_from_disk=self.manager.loads_from_disk,
                    cached=self.manager.cached_names())


def connect(address: str | None = None, **local) -> bool:
    """Join the Ray cluster at ``address`` (None: start one here, ``local`` its ray.init
    options) unless this process is connected already; start Serve without its HTTP proxy
    (the app is the front door). True when this call started the connection."""
    # no usage reports from a private server (and the tests reach nothing beyond loopback)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = False
    if not ray.is_initialized():
        env = {"PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "RAY_USAGE_STATS_ENABLED": "0"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME"):
            if name in os.environ:
                env[name] = os.environ[name]
        ray.init(address=address, namespace=NAMESPACE, include_dashboard=False,
                 runtime_env={"env_vars": env}, **({} if address else local))
        started = True
    serve.start(proxy_location="Disabled")
    return started


def deploy(config: WorkerConfig, board, *, workers: int | None = None,
           min_workers: int | None = None, max_workers: int | None = None,
           gpu: bool = False, worker_cpus: float = 1.0):
    """Run the worker deployment (fixed ``workers``, or autoscaled between the bounds);
    returns its handle once every replica is up."""
    options: dict = dict(name=DEPLOYMENT, max_ongoing_requests=1,
                         ray_actor_options={"num_gpus": 1} if gpu else {"num_cpus": worker_cpus},
                         # a worker is up only when its manager is (a missing models folder
                         # fails the deployment with its message)
                         health_check_period_s=5, graceful_shutdown_timeout_s=5)
    if min_workers is not None:
        options["autoscaling_config"] = {"min_replicas": min_workers,
                                         "max_replicas": max_workers,
                                         "target_ongoing_requests": 1}
    else:
        options["num_replicas"] = workers or 1
    app = serve.deployment(**options)(GenerationWorker).bind(config, board)
    return serve.run(app, name=APP_NAME, route_prefix=None)


def local_preprocessors(manager) -> set[str]:
    """The ControlNet preprocessors only this process has (extensions'): every listed one
    but the built-ins and depth, which workers make from their own models folder."""
    from webui.controlnet.preprocess import BUILT_IN

    pre = getattr(manager, "preprocessors", None)
    return set(pre.names()) - set(BUILT_IN) - {"depth"} if pre is not None else set()


class RayBackend(Backend):
    """Jobs run on Ray Serve workers; this app keeps validation, the fair queue and saving."""

    name = "ray"

    def __init__(self, handle, board, slots: int, job_timeout: float = 600.0,
                 extension_samplers=(), owns_cluster: bool = False, description: str = "ray"):
        self.handle, self.board, self.slots = handle, board, slots
        self.job_timeout = job_timeout
        self.extension_samplers = extension_samplers  # names; run only in-process
        # ControlNet preprocessors an extension registered: functions of this process
        self.extension_preprocessors = ()
        self.owns_cluster = owns_cluster
        self._description = description
        self._closed = False
        self._hot: frozenset[str] = frozenset()  # checkpoints some worker holds (last seen)
        self.failovers = 0  # jobs that ran again after their worker died (tests, logs)

    @classmethod
    def from_settings(cls, settings, manager) -> RayBackend:
        """Connect (or start a local Ray), deploy the workers, and return the backend."""
        owns = connect(settings.ray_address)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        gpu = gpus > 0 and settings.device in ("auto", "cuda")
        workers = settings.ray_workers or (gpus if gpu else 1)
        config = WorkerConfig(str(Path(settings.models_dir).resolve()),
                              "cuda" if gpu else "cpu", settings.dtype,
                              settings.ray_models_per_worker, settings.offload,
                              settings.vram_budget, settings.compile, settings.fuse_qkv)
        return cls.start(config, workers=workers, min_workers=settings.ray_min_workers,
                         max_workers=settings.ray_max_workers, gpu=gpu,
                         worker_cpus=settings.ray_worker_cpus,
                         job_timeout=settings.ray_job_timeout, owns_cluster=owns,
                         extension_samplers=lambda: getattr(manager, "extra_samplers", None)
                         or {}, extension_preprocessors=lambda: local_preprocessors(manager))

    @classmethod
    def start(cls, config: WorkerConfig, *, workers: int | None = 1,
              min_workers: int | None = None, max_workers: int | None = None,
              gpu: bool = False, worker_cpus: float = 1.0, job_timeout: float = 600.0,
              owns_cluster: bool = False, extension_samplers=(),
              extension_preprocessors=()) -> RayBackend:
        """Deploy workers on the cluster this process is connected to (``connect``)."""
        board = ray.remote(num_cpus=0)(JobBoard).remote()
        handle = deploy(config, board, workers=workers, min_workers=min_workers,
                        max_workers=max_workers, gpu=gpu, worker_cpus=worker_cpus)
        scale = (f"{min_workers}-{max_workers} workers (autoscaled)" if min_workers is not None
                 else f"{workers} worker(s)")
        description = (f"Ray Serve: {scale} on {'GPU' if gpu else 'CPU'}, "
                       f"{config.models_per_worker} checkpoint(s) hot per worker")
        log.info("%s", description)
        backend = cls(handle, board, max_workers or workers or 1, job_timeout,
                      extension_samplers, owns_cluster, description)
        backend.extension_preprocessors = extension_preprocessors
        return backend

    def describe(self) -> str:
        return self._description

    def resident(self) -> frozenset[str]:
        """The checkpoints the workers held after the last job (the queue prefers jobs on
        them, within its bounded wait): no remote call, the queue asks often."""
        return self._hot

    def _note_hot(self) -> None:
        try:
            stats = self.worker_stats()
        except Exception:  # noqa: BLE001 - only a preference: keep the last one
            return
        self._hot = frozenset(n for s in stats.values() for n in s.get("cached", ()))

    # -- one job ---------------------------------------------------------------------------
    def run(self, req: GenerationRequest, progress: JobProgress) -> GenerationResult:
        samplers = self.extension_samplers() if callable(self.extension_samplers) \
            else self.extension_samplers
        if req.sampler in (samplers or ()):
            raise RequestError(f"sampler {req.sampler!r} comes from an extension of this app "
                               "and runs only with --backend local, not on Ray workers")
        local_only = self.extension_preprocessors() \
            if callable(self.extension_preprocessors) else self.extension_preprocessors
        for i, unit in enumerate(req.control_units):
            if unit.module in (local_only or ()):
                raise RequestError(f"ControlNet unit {i}: preprocessor {unit.module!r} comes "
                                   "from an extension of this app and runs only with "
                                   "--backend local, not on Ray workers")
        if not req.model:
            raise RequestError("the job names no checkpoint: put an SDXL checkpoint in the "
                               "models folder (the same path on every Ray node)")
        if self._closed:
            raise WorkerLost("the Ray workers are shut down (the app is stopping)")
        wire = request_to_wire(req)
        job_id = uuid.uuid4().hex
        self._board(self.board.open.remote(job_id))
        try:
            try:
                return self._attempt(job_id, wire, req, progress)
            except WORKER_GONE as first:
                if progress.stopped:
                    raise WorkerLost("the worker running this job stopped while the job "
                                     "was being stopped; nothing was saved") from first
                log.warning("job %s: its worker died (%s); running it on another worker",
                            job_id, type(first).__name__)
                self.failovers += 1
                progress.done_steps = 0
            try:
                return self._attempt(job_id, wire, req, progress)
            except WORKER_GONE as second:
                raise WorkerLost("the worker running this job stopped (its process died), "
                                 "and so did the worker that tried it again; nothing was "
                                 "saved. Try again in a moment.") from second
        finally:
            self.board.close.remote(job_id)
            self._note_hot()

    def _attempt(self, job_id: str, wire: GenerationRequest, req: GenerationRequest,
                 progress: JobProgress) -> GenerationResult:
        response = self.handle.options(multiplexed_model_id=req.model).generate.remote(
            job_id, wire, progress.preview_every)
        stop_sent, started, attempts = False, False, None
        while True:
            try:
                data = response.result(timeout_s=POLL_S)
            except TimeoutError:
                pass
            except ray.exceptions.RayTaskError as exc:  # the worker's own error, as raised
                cause = getattr(exc, "cause", None)
                raise (cause if isinstance(cause, Exception) else exc) from None
            else:
                return result_from_wire(data, req)
            if progress.stopped and not stop_sent:
                self.board.stop.remote(job_id)
                stop_sent = True
            if progress.take_skip():
                self.board.skip.remote(job_id)
            state = self._board(self.board.poll.remote(job_id, progress.preview_step))
            if state is None:
                continue
            if attempts is None:
                attempts = state["attempts"]
            if state["attempts"] != attempts:  # a restarted try (never ours to count)
                attempts, started = state["attempts"], False
            if state["total"]:
                if not started:
                    progress.start(state["total"])
                    started = True
                progress.total_steps, progress.done_steps = state["total"], state["done"]
                if state["preview"] is not None:
                    progress.preview = from_png(state["preview"])
                    progress.preview_step = state["preview_step"]
                for listener in list(progress.listeners):
                    listener(progress)
            if state["age"] > self.job_timeout:
                response.cancel()
                where = (state["worker"] or {}).get("node", "a worker")
                raise WorkerLost(f"the job sent no progress for {state['age']:.0f} s "
                                 f"(on {where}; --ray-job-timeout {self.job_timeout:g}); it "
                                 "was cancelled and nothing was saved")

    def _board(self, ref):
        try:
            return ray.get(ref, timeout=BOARD_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise WorkerLost("the Ray cluster does not answer (job board timed out)") from None

    # -- the workers ---------------------------------------------------------------------
    def worker_stats(self) -> dict[str, dict]:
        """Each live worker's name -> pid, node, jobs run, checkpoint loads, cached names."""
        return self._board(self.board.worker_stats.remote())

    def close(self) -> None:
        """Take the workers down (and the Ray instance this app started)."""
        if self._closed:
            return
        self._closed = True
        try:
            serve.delete(APP_NAME)
            if self.owns_cluster:
                serve.shutdown()
                ray.shutdown()
        except Exception:  # noqa: BLE001 - shutting down: say it and go on
            log.exception("stopping the Ray workers failed")

