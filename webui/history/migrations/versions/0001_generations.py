"""generations table

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("cfg_scale", sa.Float(), nullable=False),
        sa.Column("sampler", sa.String(64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("model_name", sa.String(512), nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("infotext", sa.Text(), nullable=False),
        sa.Column("image_path", sa.String(1024), nullable=False, unique=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
    )
    op.create_index("ix_generations_created_at", "generations", ["created_at"])
    op.create_index("ix_generations_mode", "generations", ["mode"])
    op.create_index("ix_generations_model_name", "generations", ["model_name"])
    op.create_index("ix_generations_owner", "generations", ["owner"])


def downgrade() -> None:
    op.drop_table("generations")
