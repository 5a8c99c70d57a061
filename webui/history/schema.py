"""ORM tables of the generation history (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
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
    seed: Mapped[int] = mapped_column(BigInteger)  # seeds go up to 2**32-1
    model_name: Mapped[str] = mapped_column(String(512), default="", index=True)
    model_hash: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # the full A1111 parameter set
    infotext: Mapped[str] = mapped_column(Text, default="")
    image_path: Mapped[str] = mapped_column(String(1024), unique=True)  # relative to outputs
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds for the whole job
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
