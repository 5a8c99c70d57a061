"""training_runs: one row per LoRA training job (issue 14)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("class_word", sa.String(100), nullable=False),
        sa.Column("base_model", sa.String(512), nullable=False),
        sa.Column("base_hash", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("images", sa.JSON, nullable=False),
        sa.Column("losses", sa.JSON, nullable=False),
        sa.Column("samples", sa.JSON, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("lora_file", sa.String(1024), nullable=False),
        sa.Column("lora_sha256", sa.String(64), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_training_runs_created_at", "training_runs", ["created_at"])
    op.create_index("ix_training_runs_owner", "training_runs", ["owner"])
    op.create_index("ix_training_runs_name", "training_runs", ["name"])


def downgrade() -> None:
    op.drop_table("training_runs")
