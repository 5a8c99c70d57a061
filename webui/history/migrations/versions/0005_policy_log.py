"""policy_log: the prompt policy's refusals and warnings (issue 15)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("door", sa.String(32), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("prompt", sa.Text, nullable=True),
    )
    op.create_index("ix_policy_log_created_at", "policy_log", ["created_at"])
    op.create_index("ix_policy_log_owner", "policy_log", ["owner"])
    op.create_index("ix_policy_log_rule_id", "policy_log", ["rule_id"])


def downgrade() -> None:
    op.drop_table("policy_log")
