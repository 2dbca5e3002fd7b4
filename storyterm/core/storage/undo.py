"""History of a story: completing and reopening, and undo/redo of the writer's changes.

The undo log (story_changes) is data, so undo survives a restart and works from any front end:
undone changes are the log's tail until a new change drops them (core/storage/takes.py,
log_change). Undoing applies the opposite move through Takes and Trash without logging it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from storyterm.core.basics import SessionStatus, status_message, utcnow
from storyterm.core.storage.statements import changes_t
from storyterm.core.storage.takes import DELETE_PART, DELETE_STORY, STATUS, TAKE, Takes, log_change
from storyterm.core.storage.trash import Trash
from storyterm.core.views import Session
from storyterm.errors import Conflict, InvalidTransition

if TYPE_CHECKING:
    from storyterm.core.storage.store import Store


class History:
    """Takes, the trash, completion and undo over one Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.takes = Takes(store)
        self.trash = Trash(store)

    def set_completed(
        self,
        user_id: int,
        session_id: str,
        completed: bool,
        *,
        log: bool = True,
        back_to: SessionStatus = SessionStatus.ACTIVE,
    ) -> Session:
        """Complete a story (from active or paused) or reopen a completed one (as `back_to`)."""
        now = utcnow()
        with self.store.tx.write() as conn:
            row = self.store.tx.lock_session(conn, user_id, session_id)
            status = SessionStatus(row["status"])
            if completed and status is SessionStatus.COMPLETED:
                raise InvalidTransition(status_message(row["title"], row["status"]))
            if not completed and status is not SessionStatus.COMPLETED:
                raise InvalidTransition(
                    f"“{row['title']}” is not completed, so there is nothing to reopen."
                )
            if completed:
                changes: dict[str, Any] = {
                    "status": SessionStatus.COMPLETED.value,
                    "completed_at": now,
                }
            else:
                changes = {
                    "status": back_to.value,
                    "completed_at": None,
                    "paused_at": now if back_to is SessionStatus.PAUSED else None,
                }
            if log:
                log_change(conn, session_id, STATUS, before=status.value, after=changes["status"])
            new_row = self.store.tx.bump(conn, row, now, **changes)
        session = Session.model_validate(new_row)
        if session.status is SessionStatus.ACTIVE:
            self.store.cache.update(row["version"], session)
        else:
            self.store.cache.drop(session_id)
        return session

    # -- undo and redo --------------------------------------------------------------------------

    def undo(self, user_id: int, session_id: str) -> str:
        """Undo the writer's last change to the story; returns what was undone, in words."""
        return self._step(user_id, session_id, redo=False)

    def redo(self, user_id: int, session_id: str) -> str:
        return self._step(user_id, session_id, redo=True)

    def _step(self, user_id: int, session_id: str, *, redo: bool) -> str:
        self.store.tx.read_session(user_id, session_id, trashed=True)
        with self.store.tx.read() as conn:
            query = sa.select(changes_t).where(
                changes_t.c.session_id == session_id, changes_t.c.undone.is_(redo)
            )
            order = changes_t.c.id.asc() if redo else changes_t.c.id.desc()
            change = conn.execute(query.order_by(order).limit(1)).mappings().first()
        if change is None:
            raise InvalidTransition(
                "There is nothing to redo in this story."
                if redo
                else "There is nothing to undo in this story."
            )
        said = self._apply(user_id, session_id, change["action"], change["payload"], redo)
        with self.store.tx.write() as conn:
            conn.execute(
                changes_t.update().where(changes_t.c.id == change["id"]).values(undone=not redo)
            )
            if said[1] is not None:
                conn.execute(
                    changes_t.update()
                    .where(changes_t.c.id == change["id"])
                    .values(payload={**change["payload"], **said[1]})
                )
        return said[0]

    def _apply(
        self, user_id: int, session_id: str, action: str, payload: dict[str, Any], redo: bool
    ) -> tuple[str, dict[str, Any] | None]:
        """Do (redo) or take back (undo) one logged change, without logging it again. Returns
        what happened, in words, and what the log entry must remember from now on."""
        if action == TAKE:
            number = payload["after"] if redo else payload["before"]
            self.takes.choose(user_id, session_id, payload["seq"], number, log=False)
            return f"Part {payload['seq']} shows take {number} again.", None
        if action == DELETE_PART:
            if payload.get("restored"):
                redo = not redo  # the logged change was a restore
            if redo:
                trash_id = self.trash.trash_part(user_id, session_id, payload["seq"], log=False)
                return f"Part {payload['seq']} went back to the trash.", {"trash_id": trash_id}
            if payload.get("trash_id") is None:
                raise Conflict("That part is no longer in the trash, so it cannot come back.")
            part, _ = self.trash.restore_part(user_id, payload["trash_id"], log=False)
            return f"Part {part.seq} is back from the trash.", {"trash_id": None}
        if action == DELETE_STORY:
            if redo:
                self.trash.trash_story(user_id, session_id, log=False)
                return "The story went back to the trash.", None
            self.trash.restore_story(user_id, session_id, log=False)
            return "The story is back from the trash.", None
        if action == STATUS:
            target = SessionStatus(payload["after"] if redo else payload["before"])
            if target is SessionStatus.COMPLETED:
                self.set_completed(user_id, session_id, True, log=False)
                return "The story is completed again.", None
            self.set_completed(user_id, session_id, False, log=False, back_to=target)
            return f"The story is {target.value} again.", None
        raise Conflict(f"This story's history holds a change storyterm does not know: {action}.")
