"""Training jobs: LoRA training as a job on the device queue, with a record and kept images.

``TrainingService.submit(spec, caller)`` validates the spec (and its captions against the
prompt policy) before anything is written, keeps the training images under
``<data-dir>/training/<id>/images/``, records a ``training_runs`` row and starts the job:
it waits in the same ``DeviceQueue`` as generation (its place and ETA shown like any job's;
generation waiting behind it sees the training's remaining time), trains on the pipeline the
model manager already holds (no second copy of the base), saves sample images every N steps,
and writes ``models/Lora/<name>.safetensors`` when done. Stop keeps the last saved state;
``resume`` continues it. Who may train: admins when logins are on (the local user is one),
nobody in the hosted demo unless ``--demo-training``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from webui.caller import Caller
from webui.checkpoint_choice import CheckpointChoice
from webui.config import Limits
from webui.errors import RequestError
from webui.models.bundle import JobModels
from webui.models.manager import ModelManager
from webui.models.registry import SDXL_BASE, ModelNotFound
from webui.queue import DeviceQueue, LeftQueue, QueueFull
from webui.training.records import RunRow, TrainingRecords
from webui.training.spec import TrainingSpec, check_name, validate_spec

log = logging.getLogger(__name__)

SAMPLE_STEPS = 20  # denoising steps of a sample image
SAVE_EVERY = 100  # optimizer steps between saved states (a crash loses at most these)


class _StoppedEarly(Exception):
    """Stop pressed while the job prepared (class pictures): no step was made."""


class TrainingRefused(RequestError):
    """This caller may not train here (not an admin, or the demo has training off)."""


@dataclass
class TrainingStatus:
    """What the owner (and an admin) sees of one training job."""

    id: int
    name: str
    owner: str | None
    state: str  # queued | running | done | failed | stopped
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    eta: float | None = None  # seconds left (training), or until it starts (waiting)
    position: int | None = None  # place in line while queued (1 = next)
    lora: str | None = None  # the LoRA's name once written
    error: str = ""
    losses: list[float] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)  # {"step", "file"} (under data dir)
    trigger: str = ""
    class_word: str = ""
    base_model: str = ""
    duration: float = 0.0
    created: str = ""  # when it was submitted (UTC, minutes)
    phase: str = ""  # what a running job does before its steps (e.g. class pictures)

    def api(self) -> dict:
        """The A1111-style JSON of ``GET /sdapi/v1/train/lora/{id}``."""
        out = {"id": self.id, "name": self.name, "state": self.state, "step": self.step,
               "total_steps": self.total_steps, "loss": self.loss, "eta": self.eta,
               "position": self.position, "lora": self.lora}
        if self.error:
            out["error"] = self.error
        return out


class _Live:
    """A running or waiting job's state, shared by its thread and the readers."""

    def __init__(self, row: RunRow, spec: TrainingSpec, caller: Caller, sample_every: int,
                 resume: bool):
        self.status = _status_of(row)
        self.spec = spec
        self.caller = caller
        self.sample_every = sample_every
        self.resume = resume
        self.stop = threading.Event()
        self.step_started: float | None = None  # monotonic time training began (this run)
        self.first_step = 0
        self.thread: threading.Thread | None = None

    def remaining(self) -> float | None:
        s = self.status
        done = s.step - self.first_step
        if self.step_started is None or done <= 0:
            return None
        per_step = (time.monotonic() - self.step_started) / done
        return per_step * (s.total_steps - s.step)


def _status_of(row: RunRow) -> TrainingStatus:
    return TrainingStatus(
        id=row.id, name=row.name, owner=row.owner, state=row.state, step=row.step,
        total_steps=row.total_steps, loss=row.losses[-1] if row.losses else None,
        lora=row.name if row.state == "done" else None, error=row.error,
        losses=list(row.losses), samples=list(row.samples), trigger=row.trigger,
        class_word=row.class_word, base_model=row.base_model, duration=row.duration,
        created=row.created_at.strftime("%Y-%m-%d %H:%M") if row.created_at else "")


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TrainingService:
    """Accepts, queues, runs, stops and resumes LoRA training jobs."""

    def __init__(self, manager: ModelManager, queue: DeviceQueue, records: TrainingRecords,
                 data_dir: Path, limits: Limits, checkpoint: CheckpointChoice, *,
                 enabled: bool = True, disabled_reason: str = "",
                 check_texts=None, save_every: int = SAVE_EVERY,
                 sample_steps: int = SAMPLE_STEPS):
        self.manager = manager
        self.queue = queue
        self.records = records
        self.root = Path(data_dir) / "training"
        self.limits = limits
        self.checkpoint = checkpoint
        self.enabled = enabled
        self.disabled_reason = disabled_reason or "LoRA training is off on this server"
        # the prompt policy's check (captions and trigger go through it like prompts);
        # ``check_texts(texts, owner=..., door=...) -> warnings``, raises on a block
        self.check_texts = check_texts
        self.save_every = save_every
        self.sample_steps = sample_steps
        self._live: dict[int, _Live] = {}
        self._lock = threading.Lock()
        self._accepting = threading.Lock()  # one submit at a time: names stay unique
        n = records.interrupted_at_start()
        if n:
            log.info("%d training job(s) of an earlier run marked stopped (resumable)", n)

    @property
    def lora_dir(self) -> Path:
        return self.manager.registry.lora_dir

    # -- who may train ---------------------------------------------------------------------
    def check_allowed(self, caller: Caller) -> None:
        if not self.enabled:
            raise TrainingRefused(self.disabled_reason)
        if not caller.is_admin and not caller.is_demo_visitor:
            raise TrainingRefused("only an admin may train LoRAs on this server")

    def base_choices(self) -> list[str]:
        """Checkpoints a LoRA can be trained on (SDXL bases and fine-tunes)."""
        names = set(self.manager.registry.names({SDXL_BASE}))
        return [n for n in self.manager.checkpoint_names() if n in names]

    # -- submit ----------------------------------------------------------------------------
    def submit(self, spec: TrainingSpec, caller: Caller, *, sample_every: int = 0
               ) -> tuple[int, list[str]]:
        """Validate ``spec`` and queue it for ``caller``: (job id, policy warnings). Raises
        ``RequestError`` (clear message, nothing written) for any bad input."""
        self.check_allowed(caller)
        if self.queue.waiting >= self.queue.max_waiting:
            raise QueueFull(f"The queue is full ({self.queue.max_waiting} jobs waiting); "
                            "try again in a moment.")
        sample_every = int(sample_every or 0)
        if not 0 <= sample_every <= 100_000:
            raise RequestError(f"sample every must be 0 (off) to 100000 steps, "
                               f"got {sample_every}")
        with self._accepting:
            spec = validate_spec(spec, self.lora_dir, self.limits)
            self._check_name_free(spec.name)
            base = self._base(spec.base_model)
            spec = replace(spec, base_model=base)
            warnings = self._check_policy(spec, caller)
            row = self._record(spec, caller, sample_every)
        self._start(_Live(row, spec, caller, sample_every, resume=False))
        return row.id, warnings

    def _check_name_free(self, name: str, except_id: int | None = None) -> None:
        with self._lock:
            busy = {j.status.name.lower() for i, j in self._live.items() if i != except_id}
        if name.lower() in busy:
            raise RequestError(f"a LoRA named {name!r} is being trained already; choose "
                               "another name")

    def _base(self, name: str | None) -> str:
        name = name or self.checkpoint.current()
        if not name:
            raise RequestError(self.manager.no_model_message())
        self.manager.check_offered(name)
        try:
            info = self.manager.registry.get(name)
        except ModelNotFound as exc:
            raise RequestError(str(exc)) from None
        if info.kind != SDXL_BASE:
            raise RequestError(f"{info.name} is not an SDXL base checkpoint ({info.kind}); "
                               "a LoRA trains on an SDXL base or a fine-tune of it")
        return info.name

    def _check_policy(self, spec: TrainingSpec, caller: Caller) -> list[str]:
        if self.check_texts is None:
            return []
        texts = [spec.trigger, spec.class_word, *dict.fromkeys(spec.captions)]
        return list(self.check_texts(texts, owner=caller.owner or "local", door="train"))

    def _record(self, spec: TrainingSpec, caller: Caller, sample_every: int) -> RunRow:
        """Keep the images (PNG, as validated) and create the row; both or neither."""
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = self.root / f".incoming-{uuid.uuid4().hex}"
        (incoming / "images").mkdir(parents=True)
        try:
            images = []
            for i, (img, caption) in enumerate(zip(spec.images, spec.captions), start=1):
                path = incoming / "images" / f"{i:02d}.png"
                img.save(path, format="PNG")
                images.append({"sha256": _sha256_file(path), "caption": caption,
                               "file": f"images/{i:02d}.png"})
            params = spec.to_dict()
            params["sample_every"] = sample_every
            row = self.records.create(
                owner=caller.owner, name=spec.name, trigger=spec.trigger,
                class_word=spec.class_word, base_model=spec.base_model or "",
                params=json.loads(json.dumps(params, default=str)), images=images,
                total_steps=spec.steps)
            incoming.rename(self.root / str(row.id))
            return row
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise

    def _start(self, live: _Live) -> None:
        with self._lock:
            self._live[live.status.id] = live
        live.thread = threading.Thread(target=self._run, args=(live,), daemon=True,
                                       name=f"training-{live.status.id}")
        live.thread.start()

    # -- reading ---------------------------------------------------------------------------
    def folder(self, run_id: int) -> Path:
        return self.root / str(run_id)

    def status(self, run_id: int, caller: Caller) -> TrainingStatus:
        """The job's status (``RequestError`` when there is none ``caller`` may see)."""
        with self._lock:
            live = self._live.get(run_id)
        if live is not None:
            if not caller.may_see(live.status.owner):
                raise _unknown(run_id)
            return self._live_view(live)
        row = self.records.get(run_id)
        if row is None or not caller.may_see(row.owner):
            raise _unknown(run_id)
        return _status_of(row)

    def _live_view(self, live: _Live) -> TrainingStatus:
        s = replace(live.status, losses=list(live.status.losses),
                    samples=list(live.status.samples))
        if s.state == "queued":
            s.position = self.queue.position_of(self._key(live))
        elif s.state == "running":
            s.eta = live.remaining()
        return s

    def list(self, caller: Caller) -> list[TrainingStatus]:
        """Newest first: ``caller``'s jobs (an admin's: everyone's)."""
        out = []
        for row in self.records.list(caller.owner, everyone=caller.is_admin):
            with self._lock:
                live = self._live.get(row.id)
            out.append(self._live_view(live) if live is not None else _status_of(row))
        return out

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        """Block until the job has ended (tests, tools)."""
        with self._lock:
            live = self._live.get(run_id)
        if live is not None and live.thread is not None:
            live.thread.join(timeout)
        deadline = time.monotonic() + (timeout or 0)
        while run_id in self._live and time.monotonic() < deadline:
            time.sleep(0.01)  # a resumed run's new thread, or the last bookkeeping

    # -- stop / resume ---------------------------------------------------------------------
    def stop(self, run_id: int, caller: Caller) -> bool:
        """Ask ``run_id`` to stop (it keeps its last state). False when it is not running."""
        with self._lock:
            live = self._live.get(run_id)
        if live is None:
            self.status(run_id, caller)  # unknown / not yours: RequestError
            return False
        if not caller.may_see(live.status.owner):
            raise _unknown(run_id)
        live.stop.set()
        return True

    def resume(self, run_id: int, caller: Caller) -> None:
        """Queue a stopped (or failed) job again; it continues from its saved state."""
        self.check_allowed(caller)
        with self._accepting:
            with self._lock:
                if run_id in self._live:
                    raise RequestError(f"training {run_id} is still queued or running")
            row = self.records.get(run_id)
            if row is None or not caller.may_see(row.owner):
                raise _unknown(run_id)
            if row.state not in ("stopped", "failed"):
                raise RequestError(f"training {run_id} is {row.state}; only a stopped or "
                                   "failed training can be resumed")
            check_name(row.name, self.lora_dir)
            self._check_name_free(row.name, run_id)
            spec = self._spec_of(row)
            self.records.update(run_id, state="queued", error="", finished_at=None)
            row = self.records.get(run_id)
        self._start(_Live(row, spec, caller, int(row.params.get("sample_every", 0)),
                          resume=True))

    def _spec_of(self, row: RunRow) -> TrainingSpec:
        known = {f.name for f in fields(TrainingSpec)} - {"images", "captions"}
        params = {k: v for k, v in row.params.items() if k in known}
        folder = self.folder(row.id)
        images = [folder / im["file"] for im in row.images]
        missing = [str(p) for p in images if not p.is_file()]
        if missing:
            raise RequestError(f"training {row.id} cannot resume: its images are gone "
                               f"({', '.join(missing[:3])})")
        spec = TrainingSpec(**params, images=tuple(images),
                            captions=tuple(im["caption"] for im in row.images))
        return validate_spec(replace(spec, name=row.name), None, self.limits)

    # -- running ---------------------------------------------------------------------------
    def _key(self, live: _Live) -> str:
        return f"{live.caller.job_key}#train-{live.status.id}"

    def _run(self, live: _Live) -> None:
        run_id = live.status.id
        try:
            with self.queue.turn(self._key(live), live.stop.is_set, None,
                                 remaining=live.remaining, model=live.spec.base_model):
                if live.stop.is_set():
                    raise LeftQueue()
                self._train(live)
        except (LeftQueue, _StoppedEarly):
            self._finish(live, "stopped", error="stopped before its first step")
        except RequestError as exc:
            self._finish(live, "failed", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the job fails, the app keeps serving
            log.exception("training %s failed", run_id)
            self._finish(live, "failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                if self._live.get(run_id) is live:
                    del self._live[run_id]

    def _train(self, live: _Live) -> None:
        from webui.training.trainer import LoraTraining

        spec, status = live.spec, live.status
        folder = self.folder(status.id)
        registry = self.manager.registry
        info = registry.get(spec.base_model)
        base_hash = registry.sha256(info)
        status.state = "running"
        self.records.update(status.id, state="running", base_hash=base_hash)
        started = time.time()
        losses: list[float] = []
        with self.manager.prepare(JobModels(spec.base_model, modes=("txt2img",))) as bundle:
            def class_picture(done: int, total: int) -> None:
                status.phase = f"prior preservation: class picture {done}/{total}"
                if live.stop.is_set():
                    raise _StoppedEarly()

            with LoraTraining(bundle.base.pipe, spec, folder / "state",
                              on_class_image=class_picture) as run:
                status.phase = ""
                self._keep_class_images(run, folder)
                state_file = folder / "state" / "state.json"
                if live.resume and state_file.is_file():
                    losses = [float(x) for x in json.loads(state_file.read_text())
                              .get("losses", [])]
                live.first_step = status.step = len(losses)
                status.losses = list(losses)
                live.step_started = time.monotonic()

                def progress(step: int, total: int, loss: float) -> None:
                    losses.append(loss)
                    status.step, status.total_steps, status.loss = step, total, loss
                    status.losses.append(loss)
                    if self.save_every and step % self.save_every == 0 and step < total:
                        run.save_state(step, losses)
                        self.records.update(status.id, step=step, losses=list(losses))

                def sample(step: int) -> None:
                    self._sample(run, live, folder, step)

                outcome = run.train(progress=progress, should_stop=live.stop.is_set,
                                    resume=live.resume, sample_every=live.sample_every,
                                    on_sample=sample)
                duration = (time.monotonic() - live.step_started) + self._done_before(status)
                if not outcome.done:
                    self._finish(live, "stopped", step=outcome.step, losses=outcome.losses,
                                 duration=duration)
                    return
                path = run.save(self.lora_dir, outcome, started=started,
                                base_name=info.name, base_sha256=base_hash)
        rel = path.relative_to(self.lora_dir).as_posix()
        self._finish(live, "done", step=outcome.step, losses=outcome.losses,
                     duration=duration, lora_file=rel, lora_sha256=_sha256_file(path))
        log.info("training %s done: %s", status.id, path)

    def _done_before(self, status: TrainingStatus) -> float:
        row = self.records.get(status.id)
        return row.duration if row is not None else 0.0

    def _keep_class_images(self, run, folder: Path) -> None:
        """Prior preservation's class images (made by the base) kept beside the run."""
        images = getattr(run, "class_images", None) or []
        if not images:
            return
        (folder / "class").mkdir(exist_ok=True)
        for i, img in enumerate(images, start=1):
            img.save(folder / "class" / f"{i:03d}.png", format="PNG")

    def _sample(self, run, live: _Live, folder: Path, step: int) -> None:
        spec = live.spec
        image = run.sample_images(spec.captions[0], [spec.seed], steps=self.sample_steps)[0]
        (folder / "samples").mkdir(exist_ok=True)
        rel = f"samples/step-{step:06d}.png"
        image.save(folder / rel, format="PNG")
        live.status.samples.append({"step": step, "file": rel})
        self.records.update(live.status.id, samples=list(live.status.samples), step=step,
                            losses=list(live.status.losses))

    def _finish(self, live: _Live, state: str, **fields) -> None:
        status = live.status
        status.state = state
        status.error = fields.get("error", "")
        if "step" in fields:
            status.step = fields["step"]
        if "losses" in fields:
            status.losses = list(fields["losses"])
        if state == "done":
            status.lora = status.name
        status.eta = None
        if "duration" in fields:
            status.duration = fields["duration"]
        values = {k: v for k, v in fields.items() if k != "error"}
        self.records.update(status.id, state=state, error=status.error,
                            samples=list(status.samples), **values)
        # the record says it all now: readers go to it, and Resume may start at once
        with self._lock:
            if self._live.get(status.id) is live:
                del self._live[status.id]


class UnknownTraining(RequestError):
    """No training job of that id that this caller may see (HTTP 404)."""


def _unknown(run_id: int) -> UnknownTraining:
    return UnknownTraining(f"no training job {run_id}")
