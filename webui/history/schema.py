"""ORM tables of the generation history (SQLAlchemy 2 declarative).

``generations`` holds one row per image; ``boards`` are named collections per owner and
``board_items`` joins them many-to-many (rows go with either side: ``ON DELETE CASCADE``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Generation(Base):
    """One saved image and every parameter that made it."""

    __tablename__ = "generations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    mode: Mapped[str] = mapped_column(String(32), index=True)
    prompt: Mapped[str] = mapped_column(Text, default="")
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    cfg_scale: Mapped[float] = mapped_column(Float)
    sampler: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(BigInteger)  # seeds go up to 2**32-1 (ComfyUI: 2**64)
    model_name: Mapped[str] = mapped_column(String(512), default="", index=True)
    model_hash: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # the full A1111 parameter set
    infotext: Mapped[str] = mapped_column(Text, default="")
    # relative to the outputs folder (POSIX), or absolute for imported files elsewhere
    image_path: Mapped[str] = mapped_column(String(1024), unique=True)
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds for the whole job
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    # -- revision 0002
    starred: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    source: Mapped[str] = mapped_column(String(32), default="")  # "" = made here; else tool
    # name of the staged file (``outputs/.staging/<token>.png``) while a write is in flight
    file_token: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # True while a delete is in progress: hidden everywhere, finished by the reconciler
    deleting: Mapped[bool] = mapped_column(Boolean, default=False)
    # -- revision 0006: what the output filter (--safety-checker) did, e.g. "blurred:
    # FEMALE_BREAST_EXPOSED 0.83"; None when it was off or flagged nothing
    filtered: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Board(Base):
    """A named collection of images (one owner's); an image can be on several boards."""

    __tablename__ = "boards"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_boards_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BoardItem(Base):
    """Membership of one image in one board."""

    __tablename__ = "board_items"

    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"),
                                          primary_key=True)
    generation_id: Mapped[int] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True, index=True)


class ModelHash(Base):
    """sha256 of a model file, keyed by what identifies one version of it on disk."""

    __tablename__ = "model_hashes"

    key: Mapped[str] = mapped_column(String(1200), primary_key=True)  # kind|path|size|mtime
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainingRun(Base):
    """One LoRA training job (revision 0004): what it trained on, how, and what it made.

    ``images``: one ``{"sha256", "caption", "file"}`` per training image (``file`` relative to
    the data folder, where the images are kept); ``losses``: one value per optimizer step;
    ``samples``: ``{"step", "file"}`` of the sample images made while it ran."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # the LoRA's name
    state: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(100), default="")
    class_word: Mapped[str] = mapped_column(String(100), default="")
    base_model: Mapped[str] = mapped_column(String(512), default="")
    base_hash: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    images: Mapped[list] = mapped_column(JSON, default=list)
    losses: Mapped[list] = mapped_column(JSON, default=list)
    samples: Mapped[list] = mapped_column(JSON, default=list)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds of training
    lora_file: Mapped[str] = mapped_column(String(1024), default="")
    lora_sha256: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")


class PolicyLogEntry(Base):
    """One refusal or warning of the prompt policy (revision 0005): who, when, where, which
    rule. ``prompt`` stays empty unless the policy's ``log_prompts`` is on."""

    __tablename__ = "policy_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    door: Mapped[str] = mapped_column(String(32))  # ui, a1111, stability, training, ...
    action: Mapped[str] = mapped_column(String(8))  # block | warn
    rule_id: Mapped[str] = mapped_column(String(200), index=True)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
