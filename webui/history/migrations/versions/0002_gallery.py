"""gallery: starred, source, staged writes/deletes, boards, full-text search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FTS_TRIGGERS = {
    "generations_fts_ai": "AFTER INSERT ON generations BEGIN "
    "INSERT INTO generations_fts(rowid, prompt, negative_prompt) "
    "VALUES (new.id, new.prompt, new.negative_prompt); END",
    "generations_fts_ad": "AFTER DELETE ON generations BEGIN "
    "INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt) "
    "VALUES ('delete', old.id, old.prompt, old.negative_prompt); END",
    "generations_fts_au": "AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN "
    "INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt) "
    "VALUES ('delete', old.id, old.prompt, old.negative_prompt); "
    "INSERT INTO generations_fts(rowid, prompt, negative_prompt) "
    "VALUES (new.id, new.prompt, new.negative_prompt); END",
}


def _has_fts5(bind) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
        bind.exec_driver_sql("DROP TABLE temp._fts5_probe")
        return True
    except Exception:  # SQLite built without FTS5: search falls back to LIKE
        return False


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("starred", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("source", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("file_token", sa.String(40), nullable=True))
        batch.add_column(sa.Column("deleting", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_generations_starred", "generations", ["starred"])
    op.create_table(
        "boards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_boards_owner_name"),
    )
    op.create_index("ix_boards_owner", "boards", ["owner"])
    op.create_table(
        "board_items",
        sa.Column("board_id", sa.Integer(), sa.ForeignKey("boards.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("generation_id", sa.Integer(),
                  sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_board_items_generation_id", "board_items", ["generation_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and _has_fts5(bind):
        op.execute("CREATE VIRTUAL TABLE generations_fts USING fts5(prompt, negative_prompt, "
                   "content='generations', content_rowid='id')")
        for name, body in FTS_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        op.execute("INSERT INTO generations_fts(generations_fts) VALUES ('rebuild')")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS generations_fts")
    op.drop_table("board_items")
    op.drop_table("boards")
    op.drop_index("ix_generations_starred", "generations")
    with op.batch_alter_table("generations") as batch:
        for col in ("deleting", "file_token", "source", "starred"):
            batch.drop_column(col)
