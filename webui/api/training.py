"""``/sdapi/v1/train/lora``: LoRA training over HTTP, in A1111's namespace (A1111 has
``/sdapi/v1/train/embedding``). The routes hand a ``TrainingSpec`` to ``ctx.training``, the
same service the Train tab uses; the API's auth applies as to every other route."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from webui.api.common import ApiError, decode_base64
from webui.caller import resolve_caller
from webui.training.service import TrainingRefused, TrainingStatus, UnknownTraining
from webui.training.spec import DEFAULT_CLASS, DEFAULT_TRIGGER, TrainingSpec

PREFIX = "/sdapi/v1/train/lora"
#: a job id (database integer: larger ones are no job's, and SQL cannot even ask)
JobId = Path(ge=1, le=2**31 - 1, description="The id POST answered")


class TrainLoraRequest(BaseModel):
    """``POST /sdapi/v1/train/lora``: images as base64 (raw or data URL), 3 to 50."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The LoRA's name: models/Lora/<name>.safetensors")
    trigger: str = Field(DEFAULT_TRIGGER, description="The word that calls the concept")
    class_word: str = Field(DEFAULT_CLASS, description="person, product, style, object...")
    images: list[str] = Field(description="Base64 images (PNG, JPEG or WebP)")
    captions: list[str] | None = Field(None, description="One per image (default: 'a photo "
                                                         "of <trigger> <class_word>')")
    base_model: str | None = Field(None, description="Checkpoint to train on (default: the "
                                                     "selected one)")
    steps: int = 500
    rank: int = 16
    alpha: float | None = None
    learning_rate: float = 1e-4
    resolution: int = 1024
    batch_size: int = 1
    gradient_accumulation: int = 1
    train_text_encoders: bool = False
    optimizer: Literal["AdamW", "AdamW8bit", "Prodigy"] = "AdamW"
    min_snr_gamma: float = 5.0
    seed: int = 0
    prior_preservation: bool = Field(False, description="Train on class pictures the base "
                                                        "makes too (keeps the class word's look)")
    prior_images: int = Field(0, description="How many class pictures (0: as many as images)")
    sample_every: int = Field(0, description="A sample image every N steps (0: none)")


class TrainLoraAccepted(BaseModel):
    id: int


class TrainLoraStatus(BaseModel):
    """One training job, as ``GET /sdapi/v1/train/lora/{id}`` answers."""

    id: int
    name: str
    state: Literal["queued", "running", "done", "failed", "stopped"]
    step: int
    total_steps: int
    loss: float | None = None
    eta: float | None = Field(None, description="Seconds left while it runs")
    position: int | None = Field(None, description="Place in line while queued (1 = next)")
    lora: str | None = Field(None, description="The LoRA's name once it is written")
    error: str | None = None


def _spec(body: TrainLoraRequest) -> TrainingSpec:
    images = tuple(decode_base64(data, f"images[{i}]") for i, data in enumerate(body.images))
    return TrainingSpec(
        name=body.name, trigger=body.trigger, class_word=body.class_word, images=images,
        captions=tuple(body.captions or ()), base_model=body.base_model, steps=body.steps,
        rank=body.rank, alpha=body.alpha, learning_rate=body.learning_rate,
        resolution=body.resolution, batch_size=body.batch_size,
        gradient_accumulation=body.gradient_accumulation,
        train_text_encoders=body.train_text_encoders, optimizer=body.optimizer,
        min_snr_gamma=body.min_snr_gamma, seed=body.seed,
        prior_preservation=body.prior_preservation, prior_images=body.prior_images)


def _status(s: TrainingStatus) -> dict:
    return TrainLoraStatus(**s.api()).model_dump()


def training_router(ctx) -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["AUTOMATIC1111"])
    service = ctx.training

    def call(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except UnknownTraining as exc:
            raise ApiError(404, str(exc)) from None
        except TrainingRefused as exc:
            raise ApiError(403, str(exc)) from None

    @r.post("", status_code=202, response_model=TrainLoraAccepted,
            responses={400: {"description": "Bad input (the message says what)"},
                       403: {"description": "Training is not allowed for this caller"}})
    def start(body: TrainLoraRequest, request: Request):
        """Queue a LoRA training job; it waits in the same line as generation. Answers at
        once with its id; poll ``GET /sdapi/v1/train/lora/{id}``."""
        caller = resolve_caller(ctx, request)
        call(service.check_allowed, caller)
        job_id, warnings = call(service.submit, _spec(body), caller,
                                  sample_every=body.sample_every)
        headers = {"X-Policy-Warnings": "; ".join(warnings)} if warnings else None
        return JSONResponse({"id": job_id}, status_code=202, headers=headers)

    @r.get("", response_model=list[TrainLoraStatus])
    def list_jobs(request: Request):
        """The caller's training jobs, newest first (an admin's: everyone's)."""
        return [_status(s) for s in service.list(resolve_caller(ctx, request))]

    @r.get("/{job_id}", response_model=TrainLoraStatus)
    def status(request: Request, job_id: int = JobId):
        """State, step, loss and ETA of one of the caller's training jobs."""
        return _status(call(service.status, job_id, resolve_caller(ctx, request)))

    @r.post("/{job_id}/stop", response_model=TrainLoraStatus)
    def stop(request: Request, job_id: int = JobId):
        """Stop the job (it keeps its last saved state; resume continues it)."""
        caller = resolve_caller(ctx, request)
        call(service.stop, job_id, caller)
        return _status(call(service.status, job_id, caller))

    @r.post("/{job_id}/resume", response_model=TrainLoraStatus, status_code=202)
    def resume(request: Request, job_id: int = JobId):
        """Queue a stopped (or failed) job again, from its last saved state."""
        caller = resolve_caller(ctx, request)
        call(service.resume, job_id, caller)
        return _status(call(service.status, job_id, caller))

    return r
