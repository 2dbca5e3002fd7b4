"""The database side of every Store call: read and write transactions, their errors put in
words a writer can act on, and the session row each call reads or locks and bumps."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from storyterm.core.events.model import Event, EventKind
from storyterm.core.storage.database import describe_data_error, describe_error
from storyterm.core.storage.statements import statements
from storyterm.core.views import Session
from storyterm.errors import Conflict, DatabaseUnavailable, InvalidInput, NotFound

log = logging.getLogger(__name__)

#: No command named: the CLI checks an id itself first (cli/sessions.py, with its own hint).
NOT_FOUND = "No story session {id!r} here."
IN_TRASH = "“{title}” is in the trash. Restore it to open it or change it."
#: Where a write transaction keeps the events of its changes until it commits (conn.info).
_EVENTS = "storyterm.events"


def _not_trashed(row: dict[str, Any], trashed: bool) -> dict[str, Any]:
    """The session row, unless the story is in the trash and the caller did not ask for one
    there (every move but restoring, deleting for good and undo)."""
    if row.get("deleted_at") is not None and not trashed:
        raise NotFound(IN_TRASH.format(title=row["title"]))
    return row


class Transactions:
    """Transactions on one database, and the session row every write locks and bumps (its
    version + 1). The Store's session calls and its Parts share one.

    Live events come from here: every bump (and every session made or removed for good) notes
    an event in its transaction, and `on_commit` gets them once the commit is done, never
    before and never for a transaction that did not commit (core/events/__init__.py)."""

    def __init__(
        self, engine: Engine, on_commit: Callable[[list[Event]], None] | None = None
    ) -> None:
        self.engine = engine
        self.on_commit = on_commit

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection to read with; what goes wrong is said in a writer's words.

        On PostgreSQL each statement of a read runs on its own (autocommit): under READ
        COMMITTED, PostgreSQL's default and the level storyterm uses, each statement of a
        transaction sees what was committed when it started anyway, and the BEGIN and ROLLBACK
        around a read were round trips for nothing (two of a story's read's three). On SQLite
        a read stays one transaction: its statements see one snapshot."""
        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        except IntegrityError:
            raise
        except DataError as exc:
            raise InvalidInput(describe_data_error(exc)) from exc
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(describe_error(str(self.engine.url), exc)) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction that holds the write lock from its first statement.

        On SQLite that is BEGIN IMMEDIATE (two writers never both read the same "next seq"); on
        Postgres the session row is locked with SELECT ... FOR UPDATE by `lock_session`.
        """
        events: list[Event] = []
        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "sqlite":
                    conn.info["sqlite_begin"] = "IMMEDIATE"
                # conn.info outlives the checkout (it is the pooled connection's): the list
                # must never be found there by a later transaction.
                conn.info[_EVENTS] = events
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop(_EVENTS, None)
        except IntegrityError:
            raise
        except DataError as exc:
            # The database is up and refused this data: say what is wrong with the data.
            raise InvalidInput(describe_data_error(exc)) from exc
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(describe_error(str(self.engine.url), exc)) from exc
        # Committed: only now may anyone hear of it. Telling never fails the save (the
        # publisher only queues; a bug there is logged, and the change stands).
        if events and self.on_commit is not None:
            try:
                self.on_commit(events)
            except Exception:
                log.exception("could not pass on the events of a saved change")

    def note(
        self,
        conn: sa.Connection,
        kind: EventKind,
        row: dict[str, Any],
        *,
        seq: int | None = None,
        gone: bool = False,
    ) -> None:
        """An event for session `row` (as it is after the change), sent if the transaction on
        `conn` commits. `gone`: the session is no more (deleted for good)."""
        events = conn.info.get(_EVENTS)
        if events is None:
            return
        events.append(
            Event(
                kind=kind,
                user_id=row["user_id"],
                session_id=row["id"],
                version=None if gone else row["version"],
                seq=seq,
                title=row["title"],
                status=row["status"],
            )
        )

    def lock_session(
        self, conn: sa.Connection, user_id: int, session_id: str, *, trashed: bool = False
    ) -> dict[str, Any]:
        """The session row, write-locked; NotFound for another writer's, and for one in the
        trash unless `trashed`."""
        query = statements(conn.dialect.name).lock_session
        row = conn.execute(query, {"b_sid": session_id, "b_uid": user_id}).mappings().first()
        if row is None:
            raise NotFound(NOT_FOUND.format(id=session_id))
        return _not_trashed(dict(row), trashed)

    def lock_session_and_part(
        self, conn: sa.Connection, user_id: int, session_id: str, seq: int, *, content: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The session row (locked, as `lock_session`) and its part `seq` (None if it has
        none), with the part's text only when `content`."""
        stmts = statements(conn.dialect.name)
        query, part_keys = stmts.lock_session_and_part[content]
        row = conn.execute(query, {"b_sid": session_id, "b_uid": user_id, "b_seq": seq}).first()
        if row is None:
            raise NotFound(NOT_FOUND.format(id=session_id))
        n = stmts.session_columns
        session = _not_trashed(dict(zip(row._fields[:n], row[:n], strict=True)), False)
        part = dict(zip(part_keys, row[n:], strict=True))
        return session, (part if part["id"] is not None else None)

    def bump(
        self,
        conn: sa.Connection,
        row: dict[str, Any],
        now: datetime,
        *,
        part: tuple[int, dict[str, Any]] | None = None,
        kind: EventKind | None = None,
        seq: int | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Write `changes` to the session row with version + 1; return the new row.

        `part` (a part's id and the columns to set on it) is written in the same transaction:
        in the same statement on PostgreSQL, just before on SQLite.

        The change's event is `kind` (about part `seq`), or, without one, what `changes` say
        (status, title, trash, bible, memory; else "changed")."""
        values = {**changes, "version": row["version"] + 1, "updated_at": now}
        stmts = statements(conn.dialect.name)
        where = {"b_sid": row["id"], "b_version": row["version"]}
        if part is not None and stmts.merges_part_and_bump:
            part_id, part_values = part
            stmt = stmts.part_and_bump(tuple(part_values), tuple(values))
            params = {
                **where,
                "b_pid": part_id,
                **{f"p_{k}": v for k, v in part_values.items()},
                **{f"s_{k}": v for k, v in values.items()},
            }
        else:
            if part is not None:
                conn.execute(stmts.update_part, {**part[1], "b_pid": part[0]})
            stmt, params = stmts.bump_session, {**values, **where}
        result = conn.execute(stmt, params)
        if result.rowcount != 1:
            raise Conflict(
                "This story was changed somewhere else at the same moment. It has been reloaded; "
                "try again."
            )
        new_row = {**row, **values}
        self.note(conn, kind or change_kind(row, changes), new_row, seq=seq)
        return new_row

    def read_session(self, user_id: int, session_id: str, *, trashed: bool = False) -> Session:
        """The session, if it is this writer's (a session of another writer is "not found", and
        so is one in the trash unless `trashed`)."""
        with self.read() as conn:
            query = statements(conn.dialect.name).read_session
            row = conn.execute(query, {"b_sid": session_id, "b_uid": user_id}).mappings().first()
        if row is None:
            raise NotFound(NOT_FOUND.format(id=session_id))
        return Session.model_validate(_not_trashed(dict(row), trashed))


def change_kind(row: dict[str, Any], changes: dict[str, Any]) -> EventKind:
    """What a change to a session's own columns is, for a listener (the weightiest first)."""
    if "deleted_at" in changes and (changes["deleted_at"] is None) != (row["deleted_at"] is None):
        return (
            EventKind.SESSION_RESTORED
            if changes["deleted_at"] is None
            else (EventKind.SESSION_DELETED)
        )
    if "status" in changes and changes["status"] != row["status"]:
        return EventKind.STATUS_CHANGED
    if "title" in changes and changes["title"] != row["title"]:
        return EventKind.SESSION_RENAMED
    if "session_metadata" in changes:
        return EventKind.BIBLE_CHANGED
    if "memory" in changes:
        return EventKind.MEMORY_CHANGED
    return EventKind.SESSION_CHANGED
