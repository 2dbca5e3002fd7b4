"""A story's lorebook in the database (lore_entries): listed, added, changed, deleted (kept,
restorable) and restored. Every write locks the session row and bumps its version in the same
transaction, so listeners hear `session.lore` and the hot copy moves on with it."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storyterm.core.basics import SessionStatus, status_message, utcnow
from storyterm.core.events.model import EventKind
from storyterm.core.memory.lore import MAX_ENTRIES, LorebookFull, LoreDraft
from storyterm.core.storage.cache import Cache
from storyterm.core.storage.tables import LoreRow, table_of
from storyterm.core.storage.transactions import Transactions
from storyterm.core.views import LoreEntry, Session
from storyterm.errors import InvalidTransition, NotFound

lore_t = table_of(LoreRow)
_EDITABLE = (SessionStatus.ACTIVE.value, SessionStatus.PAUSED.value)


def entry_missing(entry_id: int, *, deleted: bool = False) -> NotFound:
    if deleted:
        return NotFound(f"This story has no deleted lore entry {entry_id}.")
    return NotFound(f"This story has no lore entry {entry_id}; the lorebook lists the ones it has.")


class LoreStore:
    """The lorebooks of every story, behind the session's ownership check."""

    def __init__(self, tx: Transactions, cache: Cache) -> None:
        self.tx = tx
        self.cache = cache

    # -- reading --------------------------------------------------------------------------

    def list(
        self, user_id: int, session_id: str, *, deleted: bool = False
    ) -> builtins.list[LoreEntry]:
        """The story's entries in the order they were made (`deleted`: the deleted ones,
        newest deletion first)."""
        self.tx.read_session(user_id, session_id)
        return self.entries(session_id, deleted=deleted)

    def entries(self, session_id: str, *, deleted: bool = False) -> builtins.list[LoreEntry]:
        """As `list`, without the ownership check: for a caller that has just read the
        session as its writer's (a prompt's lorebook)."""
        query = sa.select(lore_t).where(lore_t.c.session_id == session_id)
        if deleted:
            query = query.where(lore_t.c.deleted_at.is_not(None)).order_by(
                lore_t.c.deleted_at.desc(), lore_t.c.id.desc()
            )
        else:
            query = query.where(lore_t.c.deleted_at.is_(None)).order_by(lore_t.c.id)
        with self.tx.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [LoreEntry.model_validate(dict(r)) for r in rows]

    def get(self, user_id: int, session_id: str, entry_id: int) -> LoreEntry:
        for entry in self.list(user_id, session_id):
            if entry.id == entry_id:
                return entry
        raise entry_missing(entry_id)

    # -- writing --------------------------------------------------------------------------

    def add(self, user_id: int, session_id: str, draft: LoreDraft) -> LoreEntry:
        now = utcnow()
        with self.tx.write() as conn:
            row = self._lock(conn, user_id, session_id)
            count = _entries_in(conn, session_id)
            if count >= MAX_ENTRIES:
                raise LorebookFull(
                    f"“{row['title']}” has {count:,} lore entries, the most a story can hold. "
                    "Delete or merge some first."
                )
            values = {
                **draft.columns(),
                "session_id": session_id,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
            }
            entry_id = conn.execute(lore_t.insert().values(**values).returning(lore_t.c.id))
            values["id"] = entry_id.scalar_one()
            session = self._bump(conn, row, now)
        self._hot(row, session)
        return LoreEntry.model_validate(values)

    def update(self, user_id: int, session_id: str, entry_id: int, draft: LoreDraft) -> LoreEntry:
        now = utcnow()
        with self.tx.write() as conn:
            row = self._lock(conn, user_id, session_id)
            self._entry(conn, session_id, entry_id)
            conn.execute(
                lore_t.update()
                .where(lore_t.c.id == entry_id)
                .values(**draft.columns(), updated_at=now)
            )
            entry = self._entry(conn, session_id, entry_id)
            session = self._bump(conn, row, now)
        self._hot(row, session)
        return entry

    def delete(
        self, user_id: int, session_id: str, entry_id: int, *, keep_days: int | None = None
    ) -> LoreEntry:
        """Take the entry out of the lorebook; it is kept (`restore` brings it back)."""
        now = utcnow()
        with self.tx.write() as conn:
            row = self._lock(conn, user_id, session_id)
            self._entry(conn, session_id, entry_id)
            conn.execute(lore_t.update().where(lore_t.c.id == entry_id).values(deleted_at=now))
            self._purge(conn, session_id, now, keep_days)
            entry = self._entry(conn, session_id, entry_id, deleted=True)
            session = self._bump(conn, row, now)
        self._hot(row, session)
        return entry

    def restore(self, user_id: int, session_id: str, entry_id: int) -> LoreEntry:
        now = utcnow()
        with self.tx.write() as conn:
            row = self._lock(conn, user_id, session_id)
            self._refuse_present(conn, session_id, entry_id)
            self._entry(conn, session_id, entry_id, deleted=True)
            count = _entries_in(conn, session_id)
            if count >= MAX_ENTRIES:
                raise LorebookFull(
                    f"“{row['title']}” has {count:,} lore entries, the most a story can hold. "
                    "Delete one first, then bring this one back."
                )
            conn.execute(
                lore_t.update()
                .where(lore_t.c.id == entry_id)
                .values(deleted_at=None, updated_at=now)
            )
            entry = self._entry(conn, session_id, entry_id)
            session = self._bump(conn, row, now)
        self._hot(row, session)
        return entry

    @staticmethod
    def insert_all(conn: sa.Connection, session_id: str, drafts: Sequence[LoreDraft]) -> None:
        """An imported story's entries, in the import's own transaction."""
        now = utcnow()
        rows = [
            {**d.columns(), "session_id": session_id, "created_at": now, "updated_at": now}
            for d in drafts
        ]
        for start in range(0, len(rows), 500):
            conn.execute(lore_t.insert(), rows[start : start + 500])

    # -- helpers --------------------------------------------------------------------------

    def _lock(self, conn: sa.Connection, user_id: int, session_id: str) -> dict[str, Any]:
        row = self.tx.lock_session(conn, user_id, session_id)
        if row["status"] not in _EDITABLE:
            raise InvalidTransition(status_message(row["title"], row["status"]))
        return row

    def _entry(
        self, conn: sa.Connection, session_id: str, entry_id: int, *, deleted: bool = False
    ) -> LoreEntry:
        query = sa.select(lore_t).where(
            lore_t.c.id == entry_id,
            lore_t.c.session_id == session_id,
            lore_t.c.deleted_at.is_not(None) if deleted else lore_t.c.deleted_at.is_(None),
        )
        found = conn.execute(query).mappings().first()
        if found is None:
            raise entry_missing(entry_id, deleted=deleted)
        return LoreEntry.model_validate(dict(found))

    def _refuse_present(self, conn: sa.Connection, session_id: str, entry_id: int) -> None:
        """An entry that is in the lorebook has nothing to come back from."""
        with contextlib.suppress(NotFound):
            entry = self._entry(conn, session_id, entry_id)
            raise InvalidTransition(
                f"The lore entry “{entry.name}” is in the lorebook already: nothing to bring back."
            )

    def _bump(self, conn: sa.Connection, row: dict[str, Any], now: datetime) -> Session:
        return Session.model_validate(self.tx.bump(conn, row, now, kind=EventKind.LORE_CHANGED))

    def _hot(self, row: dict[str, Any], session: Session) -> None:
        """After the commit: the hot copy moves to the new version (a lost move is harmless:
        the version moved on, so a stale hot copy is dropped and rebuilt)."""
        if session.status is SessionStatus.ACTIVE:
            self.cache.update(row["version"], session)

    def _purge(
        self, conn: sa.Connection, session_id: str, now: datetime, keep_days: int | None
    ) -> None:
        """Entries deleted longer ago than the trash keeps things go for good."""
        if keep_days is None:
            return
        conn.execute(
            lore_t.delete().where(
                lore_t.c.session_id == session_id,
                lore_t.c.deleted_at < now - timedelta(days=keep_days),
            )
        )


def _entries_in(conn: sa.Connection, session_id: str) -> int:
    """How many entries the story's lorebook holds (not counting deleted ones)."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(lore_t)
            .where(lore_t.c.session_id == session_id, lore_t.c.deleted_at.is_(None))
        ).scalar_one()
    )
