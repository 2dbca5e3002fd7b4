"""takes of a part, the trash and the undo log

Revision ID: 0004_takes_trash_undo
Revises: 0003_login_attempts
Create Date: 2026-12-03 22:40:00

Regenerate used to delete the part it rewrote and `delete` removed a story for good. Now:

- story_parts holds each part's chosen take, with its number (`take`), how many takes the
  part has (`takes`), what made it (`take_kind`) and its source take (`take_from`). Every
  existing part becomes its own first take, generated (the defaults), so no row is copied.
- part_takes holds the takes that are not chosen.
- story_sessions.deleted_at marks a story in the trash; trashed_parts keeps deleted parts with
  all their takes.
- story_changes is the undo log (per story, kept in the database so undo survives a restart).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_takes_trash_undo"
down_revision: str | Sequence[str] | None = "0003_login_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("story_parts") as batch:
        batch.add_column(sa.Column("take", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("takes", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column(
                "take_kind", _AutoString(length=16), nullable=False, server_default="generated"
            )
        )
        batch.add_column(sa.Column("take_from", sa.Integer(), nullable=True))
    # The defaults only brought the existing rows over; new rows get theirs from the code.
    with op.batch_alter_table("story_parts") as batch:
        batch.alter_column("take", server_default=None)
        batch.alter_column("takes", server_default=None)
        batch.alter_column("take_kind", server_default=None)
    with op.batch_alter_table("story_sessions") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "part_takes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", _AutoString(length=16), nullable=False),
        sa.Column("take_from", sa.Integer(), nullable=True),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model_name", _AutoString(length=200), nullable=True),
        sa.Column("state", _AutoString(length=16), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["story_parts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("part_id", "number", name="uq_part_takes_part_number"),
    )
    op.create_table(
        "trashed_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["story_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trashed_parts_user_deleted", "trashed_parts", ["user_id", "deleted_at"])
    op.create_table(
        "story_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("action", _AutoString(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("undone", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["story_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_story_changes_session", "story_changes", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_story_changes_session", table_name="story_changes")
    op.drop_table("story_changes")
    op.drop_index("ix_trashed_parts_user_deleted", table_name="trashed_parts")
    op.drop_table("trashed_parts")
    op.drop_table("part_takes")
    with op.batch_alter_table("story_sessions") as batch:
        batch.drop_column("deleted_at")
    with op.batch_alter_table("story_parts") as batch:
        batch.drop_column("take_from")
        batch.drop_column("take_kind")
        batch.drop_column("takes")
        batch.drop_column("take")
