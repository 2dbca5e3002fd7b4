"""PostgreSQL: compress part text with lz4

Revision ID: 0002_parts_lz4
Revises: 0001_initial
Create Date: 2026-11-28 08:00:00

A streaming part is rewritten whole at every checkpoint (about once a second), and PostgreSQL
compresses a long text each time it is written. Its default, pglz, took about 0.5 ms more per
checkpoint of a 4,500-word part than lz4 on the benchmark machine (bench/FINDINGS.md), for
text that is stored about 30% larger. Only values written from now on change; older ones stay
pglz and read as before. SQLite has no such setting, and a PostgreSQL built without lz4 (or
older than 14) keeps pglz.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_parts_lz4"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return
    try:
        with bind.begin_nested():
            op.execute(
                sa.text(f"ALTER TABLE story_parts ALTER COLUMN content SET COMPRESSION {method}")
            )
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "0A000":  # feature not supported
            raise
        # This server was built without lz4: it keeps its default.


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("DEFAULT")
