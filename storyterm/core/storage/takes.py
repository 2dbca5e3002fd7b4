"""Takes of a part: nothing the model or the writer wrote is overwritten.

A part's chosen take is its story_parts row (every read of the story reads that table alone);
the other takes wait in part_takes. A new take (regenerate, edit, continuation) moves the
chosen one into part_takes first; choosing swaps two rows' texts. No take is ever overwritten.

Every change a writer makes through here (and through core/storage/trash.py and history.py)
is written to the undo log, story_changes, in the same transaction, with what undoing and
redoing it needs (`log_change`). Each operation is one write transaction that locks the
session row first, so it sees no half of another window's change; the session's version goes
up with each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storyterm.core.basics import PartState, SessionStatus, TakeKind, finish_refusal, utcnow
from storyterm.core.events.model import EventKind
from storyterm.core.storage.cache import TAIL_PARTS
from storyterm.core.storage.parts import refuse_while_writing
from storyterm.core.storage.statements import changes_t, parts_t, takes_t
from storyterm.core.views import Part, Session, Take
from storyterm.errors import Conflict, InvalidTransition, NotFound

if TYPE_CHECKING:
    from collections.abc import Sequence

    from storyterm.core.storage.store import Store


#: The columns a take shares with its part row (part_takes.kind is story_parts.take_kind).
_TEXT_COLUMNS = (
    "direction",
    "content",
    "model_name",
    "state",
    "word_count",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
    "updated_at",
)

#: Undo log actions.
TAKE = "take"  # another take was chosen (by choosing, editing or regenerating)
DELETE_PART = "delete_part"
DELETE_STORY = "delete_story"
STATUS = "status"  # completed or reopened

STREAMING_PART = (
    "Part {seq} is being written right now. Stop the generation there first, then try again."
)


def part_row(store: Store, conn: sa.Connection, session_id: str, seq: int) -> dict[str, Any]:
    """Part `seq` of the story, as a row (NotFound when it has no such part)."""
    row = (
        conn.execute(
            sa.select(parts_t).where(parts_t.c.session_id == session_id, parts_t.c.seq == seq)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"This story has no part {seq}.")
    return dict(row)


def refuse_read_only(row: dict[str, Any], *, completed_ok: bool = False) -> None:
    if row["status"] == SessionStatus.COMPLETED.value and not completed_ok:
        raise InvalidTransition(
            f"“{row['title']}” is completed, so its parts are read-only. Reopen it to change them."
        )


def log_change(conn: sa.Connection, session_id: str, action: str, **payload: Any) -> None:
    """Write a change to the undo log; undone changes can no longer be redone after it."""
    conn.execute(
        changes_t.delete().where(changes_t.c.session_id == session_id, changes_t.c.undone.is_(True))
    )
    conn.execute(
        changes_t.insert().values(
            session_id=session_id, action=action, payload=payload, created_at=utcnow()
        )
    )


def after_part_change(store: Store, old_version: int, session: Session, part: Part | None) -> None:
    """Bring the hot copy along: the changed part when it is in the cached tail, else a rebuild
    on the next open."""
    if session.status is SessionStatus.ACTIVE and part is not None:
        in_tail = part.seq > session.part_count - TAIL_PARTS
        store.cache.update(old_version, session, [part] if in_tail else [])
    else:
        store.cache.drop(session.id)


class Takes:
    """The takes of a story's parts."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _stash(self, conn: sa.Connection, part: dict[str, Any]) -> None:
        """Keep the part row's chosen take in part_takes (before the row takes another)."""
        conn.execute(
            takes_t.insert().values(
                part_id=part["id"],
                number=part["take"],
                kind=part["take_kind"],
                take_from=part["take_from"],
                **{k: part[k] for k in _TEXT_COLUMNS},
            )
        )

    def takes(self, user_id: int, session_id: str, seq: int) -> list[Take]:
        """Every take of part `seq`, by number; the chosen one says so."""
        found = self.takes_of(user_id, session_id, [seq])
        if seq not in found:
            raise NotFound(f"This story has no part {seq}.")
        return found[seq]

    def takes_of(self, user_id: int, session_id: str, seqs: Sequence[int]) -> dict[int, list[Take]]:
        """Every take of each of the parts `seqs` (those the story has), by number, as `takes`
        gives one part's: two statements for the lot (an export reads a batch of parts at a
        time; a read per part was three statements a part, most of a 1,000-part export)."""
        self.store.tx.read_session(user_id, session_id)
        if not seqs:
            return {}
        with self.store.tx.read() as conn:
            parts = conn.execute(
                sa.select(parts_t).where(
                    parts_t.c.session_id == session_id, parts_t.c.seq.in_(list(seqs))
                )
            ).mappings()
            by_id = {row["id"]: dict(row) for row in parts}
            others = (
                conn.execute(sa.select(takes_t).where(takes_t.c.part_id.in_(list(by_id))))
                .mappings()
                .all()
                if by_id
                else []
            )
        found = {
            part["seq"]: [
                Take.model_validate(
                    {**part, "number": part["take"], "kind": part["take_kind"], "chosen": True}
                )
            ]
            for part in by_id.values()
        }
        for row in others:
            found[by_id[row["part_id"]]["seq"]].append(
                Take.model_validate({**row, "chosen": False})
            )
        return {seq: sorted(takes, key=lambda t: t.number) for seq, takes in found.items()}

    def new_take(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        kind: TakeKind,
        content: str | None,
        direction: str | None = None,
        state: PartState = PartState.DONE,
        model_name: str | None = None,
        completed_ok: bool = False,
        log: bool = True,
        newest_only: bool = False,
    ) -> tuple[Part, Session]:
        """Give part `seq` a new take and choose it; the take it replaces is kept.

        A regenerate passes state=STREAMING and empty content (the generation then writes it
        like any streaming part); an edit passes the writer's text. A continuation passes no
        content: the new take starts as the chosen take's own text, read under the lock, and
        only an interrupted take can be gone on from (InvalidTransition otherwise). With
        `newest_only`, refused unless part `seq` is still the story's newest."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            refuse_read_only(row, completed_ok=completed_ok)
            old = part_row(self.store, conn, session_id, seq)
            if old["state"] == PartState.STREAMING.value:
                raise Conflict(STREAMING_PART.format(seq=seq))
            if state is PartState.STREAMING:
                refuse_while_writing(conn, session_id, row["title"])
            if newest_only and row["part_count"] != seq:
                # A regenerate of "the newest part" that looked at the story before another
                # client wrote a whole new part: writing part `seq` again now would leave the
                # parts after it following a take that is no longer the story's (their prompts
                # held the old one). Checked here, under the session lock, because the look and
                # the claim are separate transactions with the model catalog in between.
                what = "finished" if kind is TakeKind.CONTINUED else "written again"
                raise Conflict(
                    f"The story has moved on since you asked: part {seq} is no longer its "
                    f"newest part, so it was not {what}."
                )
            if content is None:
                refused = finish_refusal(seq, old["state"])
                if refused is not None:
                    raise InvalidTransition(refused)
                content = str(old["content"])
            self._stash(conn, old)
            number = old["takes"] + 1
            values = {
                "direction": old["direction"] if direction is None else direction,
                "content": content,
                "model_name": model_name if model_name is not None else old["model_name"],
                "state": state.value,
                "word_count": len(content.split()),
                "prompt_tokens": None,
                "completion_tokens": None,
                "created_at": now,
                "updated_at": now,
                "take": number,
                "takes": number,
                "take_kind": kind.value,
                "take_from": old["take"],
            }
            if log:
                log_change(
                    conn,
                    session_id,
                    TAKE,
                    part_id=old["id"],
                    seq=seq,
                    before=old["take"],
                    after=number,
                    kind=kind.value,
                )
            delta = values["word_count"] - old["word_count"]
            new_row = self.store.tx.bump(
                conn,
                row,
                now,
                part=(old["id"], values),
                kind=(
                    EventKind.PART_BEGUN if state is PartState.STREAMING else EventKind.PART_CHANGED
                ),
                seq=seq,
                word_count=row["word_count"] + delta,
            )
        part = Part.model_validate({**old, **values})
        session = Session.model_validate(new_row)
        after_part_change(self.store, row["version"], session, part)
        return part, session

    def choose(
        self, user_id: int, session_id: str, seq: int, number: int, *, log: bool = True
    ) -> tuple[Part, Session]:
        """Make take `number` part `seq`'s chosen take (what the story is)."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            refuse_read_only(row)
            old = part_row(self.store, conn, session_id, seq)
            if old["take"] == number:
                return Part.model_validate(old), Session.model_validate(row)
            if old["state"] == PartState.STREAMING.value:
                raise Conflict(STREAMING_PART.format(seq=seq))
            take = self._take_row(conn, old, number)
            conn.execute(takes_t.delete().where(takes_t.c.id == take["id"]))
            self._stash(conn, old)
            values = {k: take[k] for k in _TEXT_COLUMNS}
            values |= {"take": number, "take_kind": take["kind"], "take_from": take["take_from"]}
            if log:
                log_change(
                    conn,
                    session_id,
                    TAKE,
                    part_id=old["id"],
                    seq=seq,
                    before=old["take"],
                    after=number,
                    kind="choose",
                )
            delta = values["word_count"] - old["word_count"]
            new_row = self.store.tx.bump(
                conn,
                row,
                now,
                part=(old["id"], values),
                kind=EventKind.VERSION_CHOSEN,
                seq=seq,
                word_count=row["word_count"] + delta,
            )
        part = Part.model_validate({**old, **values})
        session = Session.model_validate(new_row)
        after_part_change(self.store, row["version"], session, part)
        return part, session

    def _take_row(self, conn: sa.Connection, part: dict[str, Any], number: int) -> dict[str, Any]:
        take = (
            conn.execute(
                sa.select(takes_t).where(
                    takes_t.c.part_id == part["id"], takes_t.c.number == number
                )
            )
            .mappings()
            .first()
        )
        if take is None:
            raise NotFound(
                f"Part {part['seq']} has no take {number}; its takes are 1 to {part['takes']}."
            )
        return dict(take)

    def abandon_take(self, user_id: int, session_id: str, part: Part) -> Part | None:
        """A new take the model wrote nothing into (it failed before its first word, or a
        continuation that added no word) gives its place back to the take it was made from,
        and leaves no trace in the undo log. Returns the part as it is now, or None when it
        had moved on (nothing is touched)."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            current = part_row(self.store, conn, session_id, part.seq)
            if (
                current["id"] != part.id
                or current["take"] != part.take
                or current["take_from"] is None
            ):
                return None
            back = self._take_row(conn, current, current["take_from"])
            # A continuation starts as the text of the take it goes on from: it holds nothing
            # of its own while its text is still that (a regenerate's starts empty).
            started_as = back["content"] if current["take_kind"] == TakeKind.CONTINUED else ""
            if current["content"].strip() != started_as.strip():
                return None
            conn.execute(takes_t.delete().where(takes_t.c.id == back["id"]))
            values = {k: back[k] for k in _TEXT_COLUMNS}
            values |= {
                "take": back["number"],
                "take_kind": back["kind"],
                "take_from": back["take_from"],
                "takes": current["takes"] - (1 if current["take"] == current["takes"] else 0),
            }
            last = (
                conn.execute(
                    sa.select(changes_t.c.id, changes_t.c.payload)
                    .where(changes_t.c.session_id == session_id)
                    .order_by(changes_t.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if (
                last is not None
                and last["payload"].get("after") == current["take"]
                and (last["payload"].get("part_id") == current["id"])
            ):
                conn.execute(changes_t.delete().where(changes_t.c.id == last["id"]))
            delta = values["word_count"] - current["word_count"]
            new_row = self.store.tx.bump(
                conn,
                row,
                now,
                part=(current["id"], values),
                # The part shows the take it had again (and is no longer being written).
                kind=EventKind.VERSION_CHOSEN,
                seq=part.seq,
                word_count=row["word_count"] + delta,
            )
        restored = Part.model_validate({**current, **values})
        after_part_change(self.store, row["version"], Session.model_validate(new_row), restored)
        return restored
