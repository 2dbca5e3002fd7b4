"""The trash: a deleted story is marked (story_sessions.deleted_at) and hidden from every list;
a deleted part moves, with all its takes, into trashed_parts and the later parts move up one
place. Restoring puts either back as it was. What stays longer than the trash_days setting is
deleted for good when the trash is next looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storyterm.core.basics import PartState, utcnow
from storyterm.core.events.model import EventKind
from storyterm.core.memory.state import STALE, SUMMARY_THROUGH
from storyterm.core.storage.statements import changes_t, parts_t, sessions_t, takes_t, trash_t
from storyterm.core.storage.takes import (
    DELETE_PART,
    DELETE_STORY,
    STREAMING_PART,
    after_part_change,
    log_change,
    part_row,
    refuse_read_only,
)
from storyterm.core.text import terminal_line
from storyterm.core.views import Part, Session, TrashItem
from storyterm.errors import Conflict, InvalidTransition, NotFound

if TYPE_CHECKING:
    from storyterm.core.storage.store import Store


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _from_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "updated_at"):
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


def _preview(text: str, words: int = 12) -> str:
    cut = text.split()[:words]
    return terminal_line(" ".join(cut) + (" …" if len(text.split()) > words else ""))


#: No trash entry of this writer has the number. It names no command: the CLI adds its own
#: (the API and the TUI's trash view show the trash otherwise).
NOT_IN_TRASH = "Nothing in your trash has the number {trash_id}."


class Trash:
    """Deleted stories and parts, until restored or emptied."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def trash_story(self, user_id: int, session_id: str, *, log: bool = True) -> Session:
        """Move a story to the trash (hidden from every list, restorable)."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            self._refuse_streaming(conn, row)
            if log:
                log_change(conn, session_id, DELETE_STORY)
            new_row = self.store.tx.bump(conn, row, now, deleted_at=now)
        self.store.cache.drop(session_id)
        return Session.model_validate(new_row)

    def _refuse_streaming(self, conn: sa.Connection, row: dict[str, Any]) -> None:
        if not row["part_count"]:
            return
        state = conn.execute(
            sa.select(parts_t.c.state).where(
                parts_t.c.session_id == row["id"], parts_t.c.seq == row["part_count"]
            )
        ).scalar()
        if state == PartState.STREAMING.value:
            raise Conflict(STREAMING_PART.format(seq=row["part_count"]))

    def restore_story(self, user_id: int, session_id: str, *, log: bool = True) -> Session:
        """Bring a story back from the trash, as it was."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id, trashed=True)
            if row["deleted_at"] is None:
                raise InvalidTransition(f"“{row['title']}” is not in the trash.")
            if log:
                self._undo_log_restore(conn, session_id)
            new_row = self.store.tx.bump(conn, row, now, deleted_at=None)
        return Session.model_validate(new_row)

    def _undo_log_restore(self, conn: sa.Connection, session_id: str) -> None:
        """A restore from the trash view undoes the deletion: the log says so (redo deletes)."""
        last = (
            conn.execute(
                sa.select(changes_t.c.id, changes_t.c.action)
                .where(changes_t.c.session_id == session_id, changes_t.c.undone.is_(False))
                .order_by(changes_t.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if last is not None and last["action"] == DELETE_STORY:
            conn.execute(changes_t.update().where(changes_t.c.id == last["id"]).values(undone=True))

    def delete_story_forever(self, user_id: int, session_id: str) -> None:
        """Remove a story and everything of it for good (the caller has asked the writer)."""
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id, trashed=True)
            self._refuse_streaming(conn, row)
            self._delete_sessions(conn, [session_id])
            self.store.tx.note(conn, EventKind.SESSION_REMOVED, row, gone=True)
        self.store.cache.drop(session_id)

    def _delete_sessions(self, conn: sa.Connection, ids: Sequence[str]) -> None:
        # Children first: SQLite enforces the foreign keys, but cascades only what it was
        # told to, and PostgreSQL takes the same statements.
        part_ids = sa.select(parts_t.c.id).where(parts_t.c.session_id.in_(ids))
        conn.execute(takes_t.delete().where(takes_t.c.part_id.in_(part_ids)))
        conn.execute(parts_t.delete().where(parts_t.c.session_id.in_(ids)))
        conn.execute(trash_t.delete().where(trash_t.c.session_id.in_(ids)))
        conn.execute(changes_t.delete().where(changes_t.c.session_id.in_(ids)))
        conn.execute(sessions_t.delete().where(sessions_t.c.id.in_(ids)))

    # -- the trash: parts -----------------------------------------------------------------------

    def trash_part(self, user_id: int, session_id: str, seq: int, *, log: bool = True) -> int:
        """Move part `seq` (with all its takes) to the trash; the parts after it move up one
        place. Returns the trash entry's id."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            refuse_read_only(row)
            part = part_row(self.store, conn, session_id, seq)
            if part["state"] == PartState.STREAMING.value:
                raise Conflict(STREAMING_PART.format(seq=seq))
            others = (
                conn.execute(sa.select(takes_t).where(takes_t.c.part_id == part["id"]))
                .mappings()
                .all()
            )
            payload = {
                "part": {k: _jsonable(v) for k, v in part.items()},
                "takes": [
                    {k: _jsonable(v) for k, v in t.items() if k not in ("id", "part_id")}
                    for t in others
                ],
            }
            trash_id = conn.execute(
                trash_t.insert()
                .values(
                    user_id=user_id,
                    session_id=session_id,
                    seq=seq,
                    word_count=part["word_count"],
                    payload=payload,
                    deleted_at=now,
                )
                .returning(trash_t.c.id)
            ).scalar_one()
            conn.execute(takes_t.delete().where(takes_t.c.part_id == part["id"]))
            conn.execute(parts_t.delete().where(parts_t.c.id == part["id"]))
            self._shift(conn, session_id, after=seq, by=-1)
            if log:
                log_change(conn, session_id, DELETE_PART, seq=seq, trash_id=trash_id)
            changes: dict[str, Any] = {
                "part_count": row["part_count"] - 1,
                "word_count": row["word_count"] - part["word_count"],
            }
            memory = _summary_changed(row["memory"], seq)
            if memory is not None:
                changes["memory"] = memory
            new_row = self.store.tx.bump(
                conn, row, now, kind=EventKind.PART_CHANGED, seq=seq, **changes
            )
        after_part_change(self.store, row["version"], Session.model_validate(new_row), None)
        return int(trash_id)

    def _shift(self, conn: sa.Connection, session_id: str, *, after: int, by: int) -> None:
        """Move the parts after seq `after` by `by` places, in two steps through negative seqs
        (the (session, seq) unique constraint is checked row by row on PostgreSQL)."""
        this = parts_t.c.session_id == session_id
        conn.execute(
            parts_t.update().where(this, parts_t.c.seq > after).values(seq=-(parts_t.c.seq + by))
        )
        conn.execute(parts_t.update().where(this, parts_t.c.seq < 0).values(seq=-parts_t.c.seq))

    def restore_part(
        self, user_id: int, trash_id: int, *, log: bool = True
    ) -> tuple[Part, Session]:
        """Put a trashed part back where it stood (or at the end, if the story is now
        shorter), with all its takes."""
        now = utcnow()
        with self.store.tx.write() as conn:
            entry = (
                conn.execute(
                    sa.select(trash_t).where(trash_t.c.id == trash_id, trash_t.c.user_id == user_id)
                )
                .mappings()
                .first()
            )
            if entry is None:
                raise NotFound(NOT_IN_TRASH.format(trash_id=trash_id))
            row = self.store.tx.lock_session(conn, user_id, entry["session_id"])
            refuse_read_only(row)
            self._refuse_streaming(conn, row)
            seq = min(entry["seq"], row["part_count"] + 1)
            self._shift(conn, row["id"], after=seq - 1, by=1)
            values = _from_json(entry["payload"]["part"])
            values["seq"] = seq
            # The part comes back under its own id when that is free (the undo log names it).
            taken = conn.execute(
                sa.select(parts_t.c.id).where(parts_t.c.id == values["id"])
            ).first()
            if taken is not None:
                values.pop("id")
            part_id = conn.execute(
                parts_t.insert().values(**values).returning(parts_t.c.id)
            ).scalar_one()
            for take in entry["payload"]["takes"]:
                conn.execute(takes_t.insert().values(**_from_json(take), part_id=part_id))
            conn.execute(trash_t.delete().where(trash_t.c.id == trash_id))
            if log:
                log_change(conn, row["id"], DELETE_PART, seq=seq, trash_id=None, restored=True)
            changes: dict[str, Any] = {
                "part_count": row["part_count"] + 1,
                "word_count": row["word_count"] + entry["word_count"],
            }
            memory = _summary_changed(row["memory"], seq)
            if memory is not None:
                changes["memory"] = memory
            new_row = self.store.tx.bump(
                conn, row, now, kind=EventKind.PART_CHANGED, seq=seq, **changes
            )
        part = Part.model_validate({**values, "id": part_id})
        session = Session.model_validate(new_row)
        after_part_change(self.store, row["version"], session, None)
        return part, session

    def trash(self, user_id: int) -> list[TrashItem]:
        """What is in the writer's trash, most recently deleted first."""
        self.empty_old_trash(user_id)
        with self.store.tx.read() as conn:
            stories = conn.execute(
                sa.select(
                    sessions_t.c.id,
                    sessions_t.c.title,
                    sessions_t.c.word_count,
                    sessions_t.c.deleted_at,
                    sessions_t.c.session_metadata,
                ).where(sessions_t.c.user_id == user_id, sessions_t.c.deleted_at.is_not(None))
            ).all()
            parts = conn.execute(
                sa.select(
                    trash_t.c.id,
                    trash_t.c.session_id,
                    trash_t.c.seq,
                    trash_t.c.word_count,
                    trash_t.c.deleted_at,
                    trash_t.c.payload,
                    sessions_t.c.title,
                )
                .join(sessions_t, sessions_t.c.id == trash_t.c.session_id)
                .where(trash_t.c.user_id == user_id)
            ).all()
        items = [
            TrashItem(
                kind="story",
                session_id=s.id,
                title=s.title,
                word_count=s.word_count,
                deleted_at=s.deleted_at,
                preview=_preview(str((s.session_metadata or {}).get("premise") or "")),
            )
            for s in stories
        ] + [
            TrashItem(
                kind="part",
                session_id=p.session_id,
                part_id=p.id,
                title=p.title,
                seq=p.seq,
                word_count=p.word_count,
                deleted_at=p.deleted_at,
                preview=_preview(str(p.payload.get("part", {}).get("content", ""))),
            )
            for p in parts
        ]
        return sorted(items, key=lambda i: i.deleted_at, reverse=True)

    def delete_part_forever(self, user_id: int, trash_id: int) -> None:
        with self.store.tx.write() as conn:
            gone = conn.execute(
                trash_t.delete().where(trash_t.c.id == trash_id, trash_t.c.user_id == user_id)
            )
            if gone.rowcount != 1:
                raise NotFound(NOT_IN_TRASH.format(trash_id=trash_id))

    def empty_old_trash(self, user_id: int, days: int | None = None) -> int:
        """Delete for good what has been in the trash longer than `days` (the trash_days
        setting); returns how many stories and parts went."""
        days = self.store.trash_days if days is None else days
        if days is None:  # a Store opened without the setting empties nothing by itself
            return 0
        cutoff = utcnow() - timedelta(days=days)
        with self.store.tx.write() as conn:
            rows = (
                conn.execute(
                    sa.select(sessions_t).where(
                        sessions_t.c.user_id == user_id, sessions_t.c.deleted_at < cutoff
                    )
                )
                .mappings()
                .all()
            )
            old = [row["id"] for row in rows]
            if old:
                self._delete_sessions(conn, old)
            for row in rows:
                self.store.tx.note(conn, EventKind.SESSION_REMOVED, dict(row), gone=True)
            parts = conn.execute(
                trash_t.delete().where(trash_t.c.user_id == user_id, trash_t.c.deleted_at < cutoff)
            )
        for session_id in old:
            self.store.cache.drop(session_id)
        return len(old) + int(parts.rowcount or 0)


def _summary_changed(memory: dict[str, Any] | None, seq: int) -> dict[str, Any] | None:
    """The story memory after a part at `seq` left or came back: a rolling summary that covers
    that place is stale (it is rebuilt before the next generation); None when nothing changes."""
    memory = memory or {}
    through = memory.get(SUMMARY_THROUGH)
    if not isinstance(through, int) or seq > through or memory.get(STALE):
        return None
    return {**memory, STALE: True}
