"""login_attempts: failed logins counted per username, known or not

Revision ID: 0003_login_attempts
Revises: 0002_parts_lz4
Create Date: 2026-12-10 09:00:00

Failed logins were counted on the users row, read before the password was checked and written
after: 50 guesses sent at once were all checked before any of them counted, and a username
with no account never locked, which told who has one. Each attempt now takes its place in this
table (a row per username, keyed by a SHA-256 of the normalised name, so a password typed into
the username field is not stored) in one locked transaction before its password is checked.
users.failed_logins and users.last_failed_at are no longer written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_login_attempts"
down_revision: str | Sequence[str] | None = "0002_parts_lz4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("login_attempts")
