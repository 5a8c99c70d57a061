"""Training records: one ``training_runs`` row per LoRA training job (``webui.history.schema``).

A row is created when a job is accepted (state ``queued``) and updated as it runs; the loss
curve and sample list are written at each sample and at the end, not at every step (a
1000-step run would otherwise commit 1000 times).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from webui.history.schema import TrainingRun, utcnow

STATES = ("queued", "running", "done", "failed", "stopped")
UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class RunRow:
    """A read-only copy of one row (safe to hand to the UI and API threads)."""

    id: int
    created_at: datetime
    finished_at: datetime | None
    owner: str | None
    name: str
    state: str
    trigger: str
    class_word: str
    base_model: str
    base_hash: str
    params: dict
    images: list
    losses: list
    samples: list
    step: int
    total_steps: int
    duration: float
    lora_file: str
    lora_sha256: str
    error: str

    @classmethod
    def of(cls, row: TrainingRun) -> RunRow:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


class TrainingRecords:
    """The ``training_runs`` table."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, **fields) -> RunRow:
        with Session(self.engine, expire_on_commit=False) as session:
            row = TrainingRun(state="queued", **fields)
            session.add(row)
            session.commit()
            return RunRow.of(row)

    def update(self, run_id: int, **fields) -> None:
        if fields.get("state") in ("done", "failed", "stopped"):
            fields.setdefault("finished_at", utcnow())
        with Session(self.engine) as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**fields))
            session.commit()

    def get(self, run_id: int) -> RunRow | None:
        with Session(self.engine) as session:
            row = session.get(TrainingRun, run_id)
            return RunRow.of(row) if row is not None else None

    def list(self, owner: str | None = None, everyone: bool = False,
             limit: int = 200) -> list[RunRow]:
        """Newest first; ``owner``'s rows only unless ``everyone``."""
        query = select(TrainingRun).order_by(TrainingRun.id.desc()).limit(limit)
        if not everyone:
            query = query.where(TrainingRun.owner.is_(None) if owner is None
                                else TrainingRun.owner == owner)
        with Session(self.engine) as session:
            return [RunRow.of(r) for r in session.scalars(query)]

    def interrupted_at_start(self) -> int:
        """Rows a previous server left queued or running become ``stopped`` (their last
        saved state can be resumed). Returns how many."""
        with Session(self.engine) as session:
            result = session.execute(
                update(TrainingRun).where(TrainingRun.state.in_(UNFINISHED))
                .values(state="stopped", finished_at=utcnow(),
                        error="the server stopped before this training ended; Resume "
                              "continues from its last saved state"))
            session.commit()
            return result.rowcount or 0
