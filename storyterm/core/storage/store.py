"""Dual storage: the Store and its Parts (core/storage/parts.py) are the only code that writes
both the database and Redis. The Store holds the sessions, and opens a story from its hot copy.

The rules (DESIGN.md, "Dual storage"): the database is the truth and a write is done when its
commit is; Redis is written after, and a cached entry is used only when its version equals the
database's and it passes the cache's checks (its seals and shape: core/storage/cache.py).
Every write bumps the session's version (core/storage/transactions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storyterm.core.basics import like_pattern, sqlite_title_search, status_message
from storyterm.core.events.bus import EventBus
from storyterm.core.events.channel import Channel
from storyterm.core.events.model import EventKind
from storyterm.core.memory.lore import LoreDraft
from storyterm.core.storage.cache import TAIL_PARTS, Cache, CacheState
from storyterm.core.storage.database import (
    META_CACHE_KEY,
    META_DATABASE_ID,
    ensure_meta,
    open_database,
)
from storyterm.core.storage.imports import (
    ImportSource,
    already_imported,
    find_earlier_copy,
    lock_writer,
)
from storyterm.core.storage.lore import LoreStore
from storyterm.core.storage.namespace import cache_namespace
from storyterm.core.storage.parts import NewPart, NewTake, Parts, count_words
from storyterm.core.storage.search import PartSearch
from storyterm.core.storage.statements import parts_t, sessions_t
from storyterm.core.storage.tables import (
    PartState,
    PartTake,
    SessionStatus,
    StorySession,
    utcnow,
)
from storyterm.core.storage.transactions import Transactions
from storyterm.core.storage.versions import Versions
from storyterm.core.views import (
    OpenedSession,
    Page,
    Part,
    Session,
    is_stale,
    page_cursor,
    read_cursor,
)
from storyterm.errors import (
    AuthError,
    Conflict,
    InvalidTransition,
)

takes_t: sa.Table = PartTake.__table__  # type: ignore[attr-defined]  # SQLModel sets it at class creation


class Store:
    """Sessions and parts in the database, hot copies in Redis: the sessions here, the parts in
    `store.parts`."""

    def __init__(
        self,
        engine: Engine,
        cache: Cache,
        database_id: str,
        *,
        events_url: str | None = None,
        mac_key: bytes | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.database_id = database_id
        self.tx = Transactions(engine)
        #: Live events (core/events) on Redis at `events_url`, in the cache's namespace: every
        #: commit of `tx` is published there once it is done.
        channel = Channel(cache.namespace, mac_key)
        self.events = EventBus(events_url, channel, Versions(self.tx))
        self.tx.on_commit = self.events.publish
        #: Days a story or part stays in the trash (the trash_days setting); None: the trash is
        #: only emptied by hand.
        self.trash_days: int | None = None
        self.parts = Parts(self.tx, cache)
        #: The full-text index (kept by the database's triggers; this only reads it).
        self.search = PartSearch(self.tx)

    @classmethod
    def open(cls, database_url: str, redis_url: str | None) -> Store:
        engine = open_database(database_url)
        meta = ensure_meta(engine)
        database_id = meta[META_DATABASE_ID]
        namespace = cache_namespace(engine, database_id)
        mac_key = meta[META_CACHE_KEY].encode()
        cache = Cache(redis_url, namespace=namespace, mac_key=mac_key)
        return cls(engine, cache, database_id, events_url=redis_url, mac_key=mac_key)

    def close(self) -> None:
        self.events.close()
        self.cache.close()
        self.engine.dispose()

    @property
    def cache_state(self) -> CacheState:
        return self.cache.state

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    # -- sessions -------------------------------------------------------------------------

    def create_session(
        self,
        user_id: int,
        title: str,
        metadata: dict[str, Any],
        model_name: str | None,
    ) -> Session:
        now = utcnow()
        row = StorySession(
            user_id=user_id,
            title=title,
            model_name=model_name,
            session_metadata=metadata,
            memory={},
            created_at=now,
            updated_at=now,
        ).model_dump()
        try:
            with self.tx.write() as conn:
                conn.execute(sessions_t.insert().values(**row))
                self.tx.note(conn, EventKind.SESSION_CREATED, row)
        except IntegrityError as exc:
            # The only constraint a new session can break is its user: a login from another
            # database, or an account removed since.
            raise AuthError(
                "Your account is not in this database (it was removed, or the login belongs to "
                "another storyterm database). Log in again, or register."
            ) from exc
        session = Session.model_validate(row)
        self.cache.store(session, [])
        return session

    def restore_session(
        self,
        user_id: int,
        *,
        title: str,
        metadata: dict[str, Any],
        memory: dict[str, Any],
        model_name: str | None,
        status: SessionStatus,
        created_at: datetime,
        paused_at: datetime | None,
        completed_at: datetime | None,
        parts: Sequence[NewPart],
        lore: Sequence[LoreDraft] = (),
        source: ImportSource | None = None,
        again: bool = False,
    ) -> Session:
        """Create a session with all its parts at once (an import): one transaction, so a
        failure leaves no half-imported story behind. The session gets a new id; `status`
        is set directly, so a completed story comes back completed with every part.

        With a `source`, the session remembers it, and AlreadyImported is raised (nothing
        written) when the writer has the story already, unless `again`."""
        now = utcnow()
        row = StorySession(
            user_id=user_id,
            title=title,
            status=status.value,
            model_name=model_name,
            session_metadata=metadata,
            memory=memory,
            part_count=len(parts),
            word_count=0,
            created_at=created_at,
            updated_at=now,
            paused_at=paused_at,
            completed_at=completed_at,
            imported_from=source.session_id if source else None,
            import_fingerprint=source.fingerprint if source else None,
            imported_at=now if source else None,
        ).model_dump()
        part_rows = []
        for seq, part in enumerate(parts, start=1):
            words = count_words(part.content)
            row["word_count"] += words
            part_rows.append(
                {
                    "session_id": row["id"],
                    "seq": seq,
                    **_text_columns(part),
                    "take": part.take,
                    "takes": 1 + len(part.other_takes),
                    "take_kind": part.take_kind.value,
                    "take_from": part.take_from,
                }
            )
        with self.tx.write() as conn:
            if source is not None and not again:
                lock_writer(conn, user_id)
                earlier = find_earlier_copy(conn, user_id, source)
                if earlier is not None:
                    raise already_imported(earlier)
            conn.execute(sessions_t.insert().values(**row))
            for start in range(0, len(part_rows), 500):
                conn.execute(parts_t.insert(), part_rows[start : start + 500])
            self._restore_takes(conn, row["id"], parts)
            LoreStore.insert_all(conn, row["id"], lore)
            self.tx.note(conn, EventKind.SESSION_CREATED, row)
        # No hot copy yet: the first open builds it from the database.
        return Session.model_validate(row)

    def _restore_takes(
        self, conn: sa.Connection, session_id: str, parts: Sequence[NewPart]
    ) -> None:
        """The other takes of the imported parts that have some, under their parts' new ids."""
        with_takes = {seq: p for seq, p in enumerate(parts, start=1) if p.other_takes}
        if not with_takes:
            return
        ids = dict(
            conn.execute(
                sa.select(parts_t.c.seq, parts_t.c.id).where(parts_t.c.session_id == session_id)
            ).all()
        )
        rows = [
            {
                "part_id": ids[seq],
                "number": take.number,
                "kind": take.kind.value,
                "take_from": take.take_from,
                **_text_columns(take),
            }
            for seq, part in with_takes.items()
            for take in part.other_takes
        ]
        for start in range(0, len(rows), 500):
            conn.execute(takes_t.insert(), rows[start : start + 500])

    def get_session(self, user_id: int, session_id: str) -> Session:
        return self.tx.read_session(user_id, session_id)

    def list_sessions(
        self,
        user_id: int,
        *,
        status: SessionStatus | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Session]:
        """Sessions newest first (by last change), filtered and searched in the database."""
        query = sa.select(sessions_t).where(*self._shelf(user_id, status, search))
        if cursor:
            updated_at, last_id = read_cursor(cursor)
            query = query.where(
                sa.or_(
                    sessions_t.c.updated_at < updated_at,
                    sa.and_(sessions_t.c.updated_at == updated_at, sessions_t.c.id < last_id),
                )
            )
        query = query.order_by(sessions_t.c.updated_at.desc(), sessions_t.c.id.desc())
        with self.tx.read() as conn:
            rows = conn.execute(query.limit(limit + 1)).mappings().all()
        items = [Session.model_validate(dict(r)) for r in rows[:limit]]
        next_cursor = page_cursor(items[-1]) if len(rows) > limit else None
        return Page[Session](items=items, next_cursor=next_cursor)

    def _shelf(
        self, user_id: int, status: SessionStatus | None, search: str | None
    ) -> list[sa.ColumnElement[bool]]:
        """The conditions for this writer's sessions in `status` whose titles match `search`
        (what a listing and its count both filter by)."""
        conditions = [sessions_t.c.user_id == user_id, sessions_t.c.deleted_at.is_(None)]
        if status is not None:
            conditions.append(sessions_t.c.status == status.value)
        if search:
            conditions.append(self._title_matches(search))
        return conditions

    def _title_matches(self, search: str) -> sa.ColumnElement[bool]:
        """Titles containing `search`, ignoring case (Unicode case, not just ASCII)."""
        if self.engine.dialect.name != "sqlite":
            return sessions_t.c.title.ilike(like_pattern(search), escape="\\")
        lower, pattern = sqlite_title_search(search)
        title = sa.func.lower(sessions_t.c.title) if lower else sessions_t.c.title
        return title.like(pattern, escape="\\")

    def find_session_ids(self, user_id: int, prefix: str, limit: int = 5) -> list[str]:
        """Ids of this writer's sessions starting with `prefix` (short ids at the CLI)."""
        query = (
            sa.select(sessions_t.c.id)
            .where(
                sessions_t.c.user_id == user_id,
                sessions_t.c.id.like(like_pattern(prefix)[1:], escape="\\"),
            )
            .limit(limit)
        )
        with self.tx.read() as conn:
            return list(conn.execute(query).scalars())

    def count_sessions(
        self, user_id: int, *, status: SessionStatus | None = None, search: str | None = None
    ) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(sessions_t)
            .where(*self._shelf(user_id, status, search))
        )
        with self.tx.read() as conn:
            return int(conn.execute(query).scalar_one())

    def update_session(
        self,
        user_id: int,
        session_id: str,
        *,
        expected_version: int | None = None,
        allowed_from: Sequence[SessionStatus] | None = None,
        merge_memory: dict[str, Any] | None = None,
        **changes: Any,
    ) -> Session:
        """Change columns of a session (status, title, metadata, memory, model, timestamps).

        `allowed_from` is checked inside the transaction, so two clients moving one session at
        once cannot both succeed on a stale view. `merge_memory` is merged into the memory as
        the locked row holds it: a change made elsewhere meanwhile is kept, in one transaction.
        """
        now = utcnow()
        with self.tx.write() as conn:
            row = self.tx.lock_session(conn, user_id, session_id)
            if expected_version is not None and row["version"] != expected_version:
                raise Conflict(
                    "This story was changed somewhere else since you opened it. It has been "
                    "reloaded; make your change again."
                )
            if allowed_from is not None and row["status"] not in {s.value for s in allowed_from}:
                target = changes.get("status")
                raise InvalidTransition(
                    status_message(
                        row["title"],
                        row["status"],
                        SessionStatus(target) if target is not None else None,
                    )
                )
            if merge_memory is not None:
                changes["memory"] = {**(row["memory"] or {}), **merge_memory}
            status = changes.get("status")
            if isinstance(status, SessionStatus):
                changes["status"] = status.value
            new_row = self.tx.bump(conn, row, now, **changes)
        session = Session.model_validate(new_row)
        if session.status is SessionStatus.ACTIVE:
            self.cache.update(row["version"], session)
        else:
            # Paused and completed sessions leave the hot set.
            self.cache.drop(session_id)
        return session

    # -- reading a story ------------------------------------------------------------------

    def open_session(
        self, user_id: int, session_id: str, tail: int = 20, *, _settled: bool = False
    ) -> OpenedSession:
        """The session and its newest `tail` parts: from Redis when the hot copy is current.

        The session row is always read from the database (one primary-key lookup): its version
        decides whether the hot copy may be used.
        """
        tail = max(1, min(tail, TAIL_PARTS))
        session = self.get_session(user_id, session_id)
        parts: list[Part] | None = None
        from_cache = False
        if session.status is SessionStatus.ACTIVE:
            cached = self.cache.load(session_id, Part.model_validate)
            if cached is not None and cached[0] == session.version:
                parts = cached[2]
                expected = min(session.part_count, TAIL_PARTS)
                if len(parts) == expected:
                    from_cache = True
                else:  # an entry missing parts is as bad as a stale one
                    parts = None
            elif cached is not None:
                self.cache.drop(session_id)
        if parts is None:
            parts = self.parts.tail(session_id, TAIL_PARTS)
            if session.status is SessionStatus.ACTIVE:
                self.cache.store(session, parts)
        stale = parts and parts[-1].state is PartState.STREAMING and is_stale(parts[-1])
        if stale and not _settled:
            self.parts.interrupt_stale(user_id, session_id, parts[-1].seq)
            # Read once more, whatever happened meanwhile (never loop).
            return self.open_session(user_id, session_id, tail, _settled=True)
        shown = parts[-tail:]
        return OpenedSession(
            session=session,
            parts=shown,
            has_more_before=bool(shown) and shown[0].seq > 1,
            from_cache=from_cache,
        )


def _text_columns(take: NewPart | NewTake) -> dict[str, Any]:
    """The columns a part row and a take row share, of an imported part or take."""
    return {
        "direction": take.direction,
        "content": take.content,
        "model_name": take.model_name,
        "state": take.state.value,
        "word_count": count_words(take.content),
        "prompt_tokens": take.prompt_tokens,
        "completion_tokens": take.completion_tokens,
        "created_at": take.created_at,
        "updated_at": take.updated_at,
    }
