"""the lorebook: lore_entries

Revision ID: 0007_lore_entries
Revises: 0006_part_search
Create Date: 2026-12-04 14:20:00

Each story gets a lorebook: entries with a name, keys (JSON list of words, phrases or regular
expressions), their text, a priority, always-on and enabled marks. A deleted entry keeps its
row with `deleted_at` set, so it can be brought back. Existing stories have no entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_lore_entries"
down_revision: str | Sequence[str] | None = "0006_part_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "lore_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("name", _AutoString(length=100), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("always_on", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("regex", sa.Boolean(), nullable=False),
        sa.Column("case_sensitive", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["story_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lore_entries_session", "lore_entries", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_lore_entries_session", table_name="lore_entries")
    op.drop_table("lore_entries")
