"""The database watch's two cheap queries (core/events/database_watch.py): a writer's sessions
changed since a moment, with their versions, and how many sessions the writer has."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from storyterm.core.events.database_watch import Mark
from storyterm.core.storage.statements import sessions_t
from storyterm.core.storage.transactions import Transactions

_COLUMNS = (
    sessions_t.c.id,
    sessions_t.c.version,
    sessions_t.c.title,
    sessions_t.c.status,
    sessions_t.c.deleted_at,
    sessions_t.c.updated_at,
)


class Versions:
    """Session versions, read for a listener without Redis."""

    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def marks(self, user_id: int, session_id: str | None, since: datetime | None) -> list[Mark]:
        query = sa.select(*_COLUMNS).where(sessions_t.c.user_id == user_id)
        if session_id is not None:
            query = query.where(sessions_t.c.id == session_id)
        elif since is not None:
            query = query.where(sessions_t.c.updated_at >= since)
        with self.tx.read() as conn:
            return [
                Mark(
                    id=r.id,
                    version=r.version,
                    title=r.title,
                    status=r.status,
                    trashed=r.deleted_at is not None,
                    updated_at=r.updated_at,
                )
                for r in conn.execute(query)
            ]

    def count(self, user_id: int) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(sessions_t)
            .where(sessions_t.c.user_id == user_id)
        )
        with self.tx.read() as conn:
            return int(conn.execute(query).scalar_one())
