"""The use cases that keep every word: takes of a part, the trash, completing and reopening,
undo and redo. Every front end calls these (Runtime.history); like SessionService, each
call takes the acting writer's id, and another writer's story is "not found".
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from storyterm.core.basics import PartState, SessionStatus, TakeKind
from storyterm.core.memory.state import STALE, SUMMARY_THROUGH
from storyterm.core.storage.undo import History
from storyterm.core.text import clean_content, clean_direction
from storyterm.core.views import Part, Session, Take, TrashItem
from storyterm.errors import Conflict, InvalidInput, InvalidTransition

if TYPE_CHECKING:
    from storyterm.core.storage.store import Store


def _number(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput(f"{what} is a whole number from 1 up.")
    return value


class HistoryService:
    """Takes, trash, completion and undo, with the rules the writer sees."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.history = History(store)

    # -- takes ------------------------------------------------------------------------------

    def takes(self, user_id: int, session_id: str, seq: Any) -> builtins.list[Take]:
        return self.history.takes.takes(user_id, session_id, _number(seq, "A part number"))

    def takes_of(
        self, user_id: int, session_id: str, seqs: builtins.list[int]
    ) -> dict[int, builtins.list[Take]]:
        """The takes of each of the parts `seqs`, read together (an export's batch)."""
        return self.history.takes.takes_of(user_id, session_id, seqs)

    def choose(self, user_id: int, session_id: str, seq: Any, number: Any) -> Part:
        """Make take `number` the one the story tells (shown, sent to the model, exported)."""
        part, _ = self.history.takes.choose(
            user_id, session_id, _number(seq, "A part number"), _number(number, "A take number")
        )
        return part

    def flip(self, user_id: int, session_id: str, seq: int, step: int) -> Part:
        """The next (step 1) or previous (step -1) take of a part, wrapping around."""
        current = self.store.parts.get(user_id, session_id, seq)
        if current.takes < 2:
            raise InvalidTransition(f"Part {seq} has one take only; write another to compare.")
        number = (current.take - 1 + step) % current.takes + 1
        return self.choose(user_id, session_id, seq, number)

    def regenerate_take(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        direction: str,
        model_name: str | None,
        newest_only: bool = False,
    ) -> Part:
        """Claim a new, empty take of part `seq` for the model to write (the storyteller's
        regenerate); refused while any part of the story is being written, and with
        `newest_only` when part `seq` is no longer the newest."""
        part, _ = self.history.takes.new_take(
            user_id,
            session_id,
            seq,
            kind=TakeKind.GENERATED,
            content="",
            direction=direction,
            state=PartState.STREAMING,
            model_name=model_name,
            newest_only=newest_only,
        )
        return part

    def continue_take(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        model_name: str | None,
        newest_only: bool = False,
    ) -> Part:
        """Claim a new take of part `seq` that starts as its interrupted text, for the model to
        go on from where that text stops (the storyteller's finish); the interrupted take is
        kept. Refused when the part ended normally, while any part of the story is being
        written, and with `newest_only` when part `seq` is no longer the newest."""
        part, _ = self.history.takes.new_take(
            user_id,
            session_id,
            seq,
            kind=TakeKind.CONTINUED,
            content=None,
            state=PartState.STREAMING,
            model_name=model_name,
            newest_only=newest_only,
        )
        return part

    def restore_take(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        content: Any,
        direction: str,
        state: PartState,
        model_name: str | None,
    ) -> Part:
        """Text the model wrote that a failed save could not store (a recovery file, put back
        by `storyterm recover`): a new take of part `seq`, chosen; the take it had stays."""
        part, session = self.history.takes.new_take(
            user_id,
            session_id,
            seq,
            kind=TakeKind.GENERATED,
            content=clean_content(content),
            direction=direction,
            state=state,
            model_name=model_name,
        )
        self._mark_summary_stale(user_id, session, seq)
        return part

    def abandon_take(self, user_id: int, session_id: str, part: Part) -> Part | None:
        """A regenerate's (or a continuation's) take that got no word of its own gives its place
        back to the take it was made from."""
        return self.history.takes.abandon_take(user_id, session_id, part)

    def edit(
        self,
        user_id: int,
        session_id: str,
        seq: Any,
        *,
        content: Any = None,
        direction: Any = None,
    ) -> Part:
        """The writer's edit: a new take (marked edited), chosen; the take it was made from
        stays. A completed story is read-only; a part being written cannot be edited."""
        seq = _number(seq, "A part number")
        current = self.store.parts.get(user_id, session_id, seq)
        if current.state is PartState.STREAMING:
            raise InvalidTransition(
                "That part is still being written. Stop the generation first, then edit."
            )
        text = current.content if content is None else clean_content(content)
        said = current.direction if direction is None else clean_direction(direction)
        if text == current.content and said == current.direction:
            return current  # nothing changed: no new take
        part, session = self.history.takes.new_take(
            user_id,
            session_id,
            seq,
            kind=TakeKind.EDITED,
            content=text,
            direction=said,
            state=PartState.DONE if content is not None else current.state,
        )
        self._mark_summary_stale(user_id, session, seq)
        return part

    def _mark_summary_stale(self, user_id: int, session: Session, seq: int) -> None:
        """A change to a part the rolling summary already covers makes the summary stale (it is
        rebuilt before the next generation; core/memory/prompt.py)."""
        for _attempt in range(3):
            memory = session.memory or {}
            through = memory.get(SUMMARY_THROUGH) or 0
            if not isinstance(through, int) or seq > through or memory.get(STALE):
                return
            try:
                self.store.update_session(
                    user_id,
                    session.id,
                    expected_version=session.version,
                    allowed_from=[SessionStatus.ACTIVE, SessionStatus.PAUSED],
                    memory={**memory, STALE: True},
                )
                return
            except Conflict:  # the memory moved on (a generation saved it): look again
                session = self.store.get_session(user_id, session.id)

    def story(self, user_id: int, session_id: str) -> Session:
        """The story, in the trash or not: what a front end names before deleting it for good,
        or after an undo that moved it."""
        return self.store.tx.read_session(user_id, session_id, trashed=True)

    # -- the trash ----------------------------------------------------------------------------

    def delete(self, user_id: int, session_id: str) -> Session:
        """Move a story to the trash (undo, or restore it from the trash)."""
        return self.history.trash.trash_story(user_id, session_id)

    def restore(self, user_id: int, session_id: str) -> Session:
        return self.history.trash.restore_story(user_id, session_id)

    def delete_forever(self, user_id: int, session_id: str) -> None:
        """Remove a story for good, from the trash or not (the front end asks first)."""
        self.history.trash.delete_story_forever(user_id, session_id)

    def delete_part(self, user_id: int, session_id: str, seq: Any) -> int:
        """Move a part, with all its takes, to the trash; returns its trash number."""
        return self.history.trash.trash_part(user_id, session_id, _number(seq, "A part number"))

    def restore_part(self, user_id: int, trash_id: Any) -> Part:
        part, _ = self.history.trash.restore_part(user_id, _number(trash_id, "A trash number"))
        return part

    def delete_part_forever(self, user_id: int, trash_id: Any) -> None:
        self.history.trash.delete_part_forever(user_id, _number(trash_id, "A trash number"))

    def trash(self, user_id: int) -> builtins.list[TrashItem]:
        """The writer's trash, newest first (what is older than the trash_days setting goes
        for good first)."""
        return self.history.trash.trash(user_id)

    # -- completing, undo -----------------------------------------------------------------------

    def complete(self, user_id: int, session_id: str) -> Session:
        return self.history.set_completed(user_id, session_id, True)

    def reopen(self, user_id: int, session_id: str) -> Session:
        """A completed story becomes active again (its parts writable)."""
        return self.history.set_completed(user_id, session_id, False)

    def undo(self, user_id: int, session_id: str) -> str:
        """Undo the writer's last change to the story; returns what happened, in words."""
        return self.history.undo(user_id, session_id)

    def redo(self, user_id: int, session_id: str) -> str:
        return self.history.redo(user_id, session_id)
