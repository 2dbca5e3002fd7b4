"""where an imported story came from

Revision ID: 0005_import_source
Revises: 0004_takes_trash_undo
Create Date: 2026-12-04 03:49:02

Importing the same story.json twice made a silent duplicate. An imported session now keeps the
id of the session it was exported from (`imported_from`), a fingerprint of its text
(`import_fingerprint`) and when it was imported (`imported_at`), so a second import of the same
story is refused unless the writer asks for it. Existing sessions have none (NULL): a story
imported before this revision is not recognised, and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_import_source"
down_revision: str | Sequence[str] | None = "0004_takes_trash_undo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AutoString = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("story_sessions") as batch:
        batch.add_column(sa.Column("imported_from", _AutoString(length=36), nullable=True))
        batch.add_column(sa.Column("import_fingerprint", _AutoString(length=64), nullable=True))
        batch.add_column(sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("story_sessions") as batch:
        batch.drop_column("imported_at")
        batch.drop_column("import_fingerprint")
        batch.drop_column("imported_from")
