"""A story's parts in the database and their hot copies in Redis: reading them a page or a
batch at a time, appending, rewriting (checkpoints, edits) and removing the newest.

The same rules as the Store's (core/storage/store.py): the database commit first, Redis after,
and every write bumps the session's version, in the transaction that writes the part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storyterm.core.basics import (
    STREAM_STALE_AFTER,
    TakeKind,
    being_written_message,
    status_message,
)
from storyterm.core.events.model import EventKind
from storyterm.core.storage.cache import TAIL_PARTS, Cache
from storyterm.core.storage.statements import parts_t, statements
from storyterm.core.storage.tables import PartState, SessionStatus, utcnow
from storyterm.core.storage.transactions import Transactions
from storyterm.core.views import Part, Session, is_stale
from storyterm.errors import Conflict, InvalidTransition, NotFound


def count_words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class NewTake:
    """A take of an imported part that is not its chosen one (part_takes), as exported."""

    number: int
    kind: TakeKind
    take_from: int | None
    direction: str
    content: str
    model_name: str | None
    state: PartState
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewPart:
    """A whole part brought in from outside (an import): everything but its id; its seq is its
    place in the list it arrives in. Its text is the chosen take (number `take`); the others
    come in `other_takes` (a file from before takes has none: the part is its first take)."""

    direction: str
    content: str
    model_name: str | None
    state: PartState
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    updated_at: datetime
    take: int = 1
    take_kind: TakeKind = TakeKind.GENERATED
    take_from: int | None = None
    other_takes: tuple[NewTake, ...] = ()


def refuse_while_writing(conn: sa.Connection, session_id: str, title: str) -> None:
    """Conflict when a part of the story is being written (a continue or a regenerate running
    elsewhere): two generations of one story never run at once, so no prompt is built from
    parts that are changing. A part left streaming by a process that died does not count."""
    writing = conn.execute(
        sa.select(parts_t.c.seq)
        .where(
            parts_t.c.session_id == session_id,
            parts_t.c.state == PartState.STREAMING.value,
            parts_t.c.updated_at > utcnow() - STREAM_STALE_AFTER,
        )
        .limit(1)
    ).scalar()
    if writing is not None:
        raise Conflict(being_written_message(writing, title))


#: What a rewrite of a part is, for a listener, by the state it leaves the part in.
_WRITE_KINDS = {
    PartState.STREAMING: EventKind.PART_SAVED,
    PartState.DONE: EventKind.PART_FINISHED,
    PartState.CUT: EventKind.PART_FINISHED,
    PartState.INTERRUPTED: EventKind.PART_INTERRUPTED,
}


class Parts:
    """The parts of the sessions in one database (the Store holds one as `store.parts`). Every
    call names the writer: a session of another writer is "not found"."""

    def __init__(self, tx: Transactions, cache: Cache) -> None:
        self.tx = tx
        self.cache = cache

    # -- reading --------------------------------------------------------------------------

    def tail(self, session_id: str, limit: int) -> list[Part]:
        """The newest `limit` parts, oldest first, from the database (no ownership check: the
        caller has read the session)."""
        with self.tx.read() as conn:
            rows = (
                conn.execute(
                    sa.select(parts_t)
                    .where(parts_t.c.session_id == session_id)
                    .order_by(parts_t.c.seq.desc())
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [Part.model_validate(dict(r)) for r in reversed(rows)]

    def before(self, user_id: int, session_id: str, before_seq: int, limit: int = 20) -> list[Part]:
        """Up to `limit` parts just before seq `before_seq`, oldest first (scrolling up, a
        prompt's parts). The writer's ownership is checked in the same statement; only when it
        finds no part is the session read, to tell "none" from "not yours"."""
        with self.tx.read() as conn:
            query = statements(conn.dialect.name).parts_before
            params = {"b_sid": session_id, "b_uid": user_id, "b_seq": before_seq, "b_limit": limit}
            rows = conn.execute(query, params).mappings().all()
        if not rows:
            self.tx.read_session(user_id, session_id)
        return [Part.model_validate(dict(r)) for r in reversed(rows)]

    def directions(self, user_id: int, session_id: str, limit: int) -> list[str]:
        """Up to `limit` different directions of the story's parts, newest first (the
        direction input's history). Only the newest parts are read (four per direction asked
        for: a story's directions repeat little), and only their direction column."""
        self.tx.read_session(user_id, session_id)
        with self.tx.read() as conn:
            rows = conn.execute(
                sa.select(parts_t.c.direction)
                .where(parts_t.c.session_id == session_id, parts_t.c.direction != "")
                .order_by(parts_t.c.seq.desc())
                .limit(max(limit, 0) * 4)
            ).scalars()
            seen = dict.fromkeys(rows)  # first seen is newest; insertion order is kept
        return list(seen)[:limit]

    def iterate(self, user_id: int, session_id: str, batch: int = 200) -> Iterator[Part]:
        """Every part in order, read a batch at a time (memory building, checks)."""
        for page in self.pages(user_id, session_id, batch):
            yield from page

    def pages(self, user_id: int, session_id: str, size: int = 200) -> Iterator[list[Part]]:
        """Every part in order, a page of `size` parts at a time as each is read (export)."""
        self.tx.read_session(user_id, session_id)
        after = 0
        while True:
            with self.tx.read() as conn:
                rows = (
                    conn.execute(
                        sa.select(parts_t)
                        .where(parts_t.c.session_id == session_id, parts_t.c.seq > after)
                        .order_by(parts_t.c.seq)
                        .limit(size)
                    )
                    .mappings()
                    .all()
                )
            if not rows:
                return
            yield [Part.model_validate(dict(row)) for row in rows]
            after = rows[-1]["seq"]

    def get(self, user_id: int, session_id: str, seq: int) -> Part:
        self.tx.read_session(user_id, session_id)
        with self.tx.read() as conn:
            row = (
                conn.execute(
                    sa.select(parts_t).where(
                        parts_t.c.session_id == session_id, parts_t.c.seq == seq
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"This story has no part {seq}.")
        return Part.model_validate(dict(row))

    # -- writing --------------------------------------------------------------------------

    def add(
        self,
        user_id: int,
        session_id: str,
        *,
        direction: str,
        content: str = "",
        model_name: str | None = None,
        state: PartState = PartState.DONE,
        expected_seq: int | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> Part:
        """Append a part with the next seq. With `expected_seq`, lose cleanly if another client
        got there first. Only an active session takes new parts."""
        now = utcnow()
        try:
            with self.tx.write() as conn:
                row = self.tx.lock_session(conn, user_id, session_id)
                if row["status"] != SessionStatus.ACTIVE.value:
                    raise InvalidTransition(status_message(row["title"], row["status"]))
                seq = row["part_count"] + 1
                if expected_seq is not None and expected_seq != seq:
                    raise Conflict(
                        "Another window added a part to this story first. It has been reloaded; "
                        "continue again from the new end."
                    )
                if state is PartState.STREAMING:
                    refuse_while_writing(conn, session_id, row["title"])
                words = count_words(content)
                part_row = {
                    "session_id": session_id,
                    "seq": seq,
                    "direction": direction,
                    "content": content,
                    "model_name": model_name,
                    "state": state.value,
                    "word_count": words,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "created_at": now,
                    "updated_at": now,
                }
                part_id = conn.execute(
                    statements(conn.dialect.name).insert_part, part_row
                ).scalar_one()
                new_row = self.tx.bump(
                    conn,
                    row,
                    now,
                    kind=(
                        EventKind.PART_BEGUN
                        if state is PartState.STREAMING
                        else EventKind.PART_CHANGED
                    ),
                    seq=seq,
                    part_count=seq,
                    word_count=row["word_count"] + words,
                )
        except IntegrityError as exc:
            raise Conflict(
                "Another window added a part to this story at the same moment. It has been "
                "reloaded; try again."
            ) from exc
        part = Part.model_validate({**part_row, "id": part_id})
        session = Session.model_validate(new_row)
        drop = [seq - TAIL_PARTS] if seq > TAIL_PARTS else []
        self.cache.update(row["version"], session, [part], drop)
        return part

    def write(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        content: str | None = None,
        direction: str | None = None,
        state: PartState | None = None,
        model_name: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        allow_read_only: bool = False,
        expect: Part | None = None,
        merge_memory: dict[str, Any] | None = None,
    ) -> tuple[Part, Session]:
        """Rewrite a part: a streaming checkpoint, its final text, or a writer's edit.

        A checkpoint of a generation that is still running is taken whatever the session's
        status now is (pausing keeps what was written); edits need `allow_read_only=False`
        and refuse a completed story. `merge_memory` is merged into the story's memory as the
        locked row holds it, in the same transaction, unless the story is completed (its
        memory is then left as it is; the part is still written).
        """
        now = utcnow()
        with self.tx.write() as conn:
            row, old = self.tx.lock_session_and_part(
                conn, user_id, session_id, seq, content=content is None
            )
            if not allow_read_only and row["status"] == SessionStatus.COMPLETED.value:
                raise InvalidTransition(status_message(row["title"], row["status"]))
            if old is None:
                raise NotFound(f"This story has no part {seq}.")
            if expect is not None and (
                old["id"] != expect.id or old["created_at"] != expect.created_at
            ):
                # Another window regenerated this part (after taking it for abandoned): never
                # write a stale generation over its replacement. (SQLite may reuse the id of
                # a deleted newest row, hence the creation time as well.)
                raise Conflict(
                    f"Part {seq} was replaced in another window while this one was writing it; "
                    "the replacement was kept."
                )
            values: dict[str, Any] = {"updated_at": now}
            if content is not None:
                values["content"] = content
                values["word_count"] = count_words(content)
            if direction is not None:
                values["direction"] = direction
            if state is not None:
                values["state"] = state.value
            if model_name is not None:
                values["model_name"] = model_name
            if prompt_tokens is not None:
                values["prompt_tokens"] = prompt_tokens
            if completion_tokens is not None:
                values["completion_tokens"] = completion_tokens
            delta = values.get("word_count", old["word_count"]) - old["word_count"]
            session_values: dict[str, Any] = {"word_count": row["word_count"] + delta}
            if merge_memory and row["status"] != SessionStatus.COMPLETED.value:
                session_values["memory"] = {**(row["memory"] or {}), **merge_memory}
            new_row = self.tx.bump(
                conn,
                row,
                now,
                part=(old["id"], values),
                kind=_WRITE_KINDS[state] if state is not None else EventKind.PART_CHANGED,
                seq=seq,
                **session_values,
            )
        part = Part.model_validate({**old, **values})
        session = Session.model_validate(new_row)
        if session.status is SessionStatus.ACTIVE:
            # The hot entry holds only the newest TAIL_PARTS parts; an older part's edit changes
            # the session (word count, version) but must not grow the entry past its tail.
            in_tail = seq > session.part_count - TAIL_PARTS
            self.cache.update(row["version"], session, [part] if in_tail else [])
        return part, session

    def delete_last(self, user_id: int, session_id: str, seq: int) -> Session:
        """Remove the newest part (regenerate replaces it); only the newest can go."""
        now = utcnow()
        with self.tx.write() as conn:
            row = self.tx.lock_session(conn, user_id, session_id)
            if row["status"] != SessionStatus.ACTIVE.value:
                raise InvalidTransition(status_message(row["title"], row["status"]))
            if row["part_count"] != seq:
                raise Conflict(
                    "The story has moved on since you asked: only its newest part can be "
                    "replaced. It has been reloaded."
                )
            old = conn.execute(
                sa.select(parts_t.c.word_count).where(
                    parts_t.c.session_id == session_id, parts_t.c.seq == seq
                )
            ).scalar_one()
            conn.execute(
                parts_t.delete().where(parts_t.c.session_id == session_id, parts_t.c.seq == seq)
            )
            new_row = self.tx.bump(
                conn,
                row,
                now,
                kind=EventKind.PART_CHANGED,
                seq=seq,
                part_count=seq - 1,
                word_count=row["word_count"] - old,
            )
        session = Session.model_validate(new_row)
        # Simplest correct move: the hot copy is rebuilt on the next open.
        self.cache.drop(session_id)
        return session

    def interrupt_stale(self, user_id: int, session_id: str, seq: int) -> None:
        """Mark a streaming part whose writer vanished as interrupted (text kept)."""
        with contextlib.suppress(NotFound):
            part = self.get(user_id, session_id, seq)
            if part.state is PartState.STREAMING and is_stale(part):
                self.write(
                    user_id, session_id, seq, state=PartState.INTERRUPTED, allow_read_only=True
                )
