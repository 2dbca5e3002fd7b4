"""Nothing the writer does is lost: the main screen's keys for takes, undo and the trash.

HistoryActions flips the takes of a part (< >), undoes and redoes the writer's changes to a
story (u, ctrl+z, ctrl+y), moves a story (d) or a part (x) to the trash after asking, opens the
trash (T) and reopens a completed story (C). Each use case runs in a worker on the story
column (runtime.history) and answers with a message (TakeShown, PartDeleted, SessionDeleted,
HistoryStepped, SessionChanged, TrashClosed, WorkFailed) that the column and the screen route
onto their widgets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.content import Content

from storyterm.errors import NotFound, StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import (
    HistoryStepped,
    PartDeleted,
    SessionChanged,
    SessionDeleted,
    TakeShown,
    TrashClosed,
    WorkFailed,
)
from storyterm.tui.text import count, one_line

if TYPE_CHECKING:
    from textual.widget import Widget

    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Session
    from storyterm.tui.screens.trash import TrashChanges
    from storyterm.tui.widgets.story_view import StoryView

#: How a title stands out in a question about it.
TITLE_STYLE = "bold $text-accent"


def titled(before: str, title: str, after: str) -> Content:
    """A question naming a story: its title in bold, never read as markup."""
    return Content.assemble(before, ("“" + one_line(title) + "”", TITLE_STYLE), after)


class HistoryActions:
    """Takes, undo and the trash for the main screen's keys."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        writer: Callable[[], int],
        *,
        push_screen: Callable[..., Any],
        story: StoryView,
    ) -> None:
        #: Runs the workers, shows notifications and receives the messages (the story column).
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._push_screen = push_screen
        self._story = story
        #: Flips and undo steps run one at a time, in the order the keys were pressed: each
        #: starts from where the one before left the story.
        self._one_at_a_time = threading.Lock()
        #: The story last moved to the trash from here (id, title): `u` right after brings it
        #: back, although it is no longer open. Forgotten at the writer's next change.
        self.last_deleted: tuple[str, str] | None = None

    def _run(self, work: Callable[..., None], *args: Any, group: str) -> None:
        run_in_thread(self._host, work, *args, group=group)

    def _say(self, note: str) -> None:
        self._host.notify(note, markup=False)

    def forget_deleted(self) -> None:
        """The writer made another change: `u` is about the open story again."""
        self.last_deleted = None

    # -- takes -----------------------------------------------------------------------------

    def flip(self, session: Session, step: int) -> None:
        """Show the selected part's next (step 1) or previous (-1) take, in place."""
        part = self._story.target_part
        if part is None:
            self._say("This story has no parts yet.")
            return
        if part.takes < 2:
            self._say(f"Part {part.seq} has one take. ctrl+r writes another; E edits it.")
            return
        if str(session.status) == "completed":
            self._say(
                f"“{one_line(session.title)}” is completed, so its takes stay as they are. "
                "Press C to reopen it."
            )
            return
        self.forget_deleted()
        self._run(self._flip, session.id, part.seq, step, group="takes")

    def _flip(self, session_id: str, seq: int, step: int) -> None:
        writer = self._writer()
        with self._one_at_a_time:
            try:
                part = self._runtime.history.flip(writer, session_id, seq, step)
                session = self._runtime.sessions.get(writer, session_id)
            except StorytermError as exc:
                self._host.post_message(WorkFailed(exc, session_id=session_id))
            else:
                self._host.post_message(TakeShown(part, session))

    # -- undo and redo ---------------------------------------------------------------------

    def step(self, session: Session | None, *, redo: bool) -> None:
        """Undo (or redo) the writer's last change to the open story; right after a story was
        moved to the trash, undo brings that story back."""
        target = session.id if session is not None else None
        if not redo and self.last_deleted is not None:
            target = self.last_deleted[0]
        self.forget_deleted()
        if target is None:
            what = "redo" if redo else "undo"
            self._say(f"Open a story first to {what} its changes (pick one on the left).")
            return
        self._run(self._step, target, redo, group="undo")

    def _step(self, session_id: str, redo: bool) -> None:
        writer = self._writer()
        history = self._runtime.history
        with self._one_at_a_time:
            try:
                note = (history.redo if redo else history.undo)(writer, session_id)
            except StorytermError as exc:
                self._host.post_message(WorkFailed(exc, session_id=session_id))
                return
            try:
                session: Session | None = self._runtime.sessions.get(writer, session_id)
            except NotFound:  # the step put it (back) in the trash
                session = None
            except StorytermError as exc:
                self._host.post_message(WorkFailed(exc, session_id=session_id))
                return
            self._host.post_message(HistoryStepped(session_id, note, session))

    # -- the trash -------------------------------------------------------------------------

    def _still_opening(self, key: str) -> bool:
        """True, after telling the writer, while the list's cursor has moved to a story that is
        not shown yet: a delete now would hit the story still on the right, not the one the
        writer is looking at in the list."""
        if self._story.settled:
            return False
        self._say(
            f"The story under the cursor is still opening. Press {key} again once it shows "
            "on the right."
        )
        return True

    def delete(self, session: Session) -> None:
        """Ask, then move the story to the trash (`u` right after brings it back)."""
        from storyterm.tui.screens.confirm import ConfirmScreen

        if self._still_opening("d"):
            return

        days = self._runtime.settings.trash_days
        detail = (
            f"Its {count(session.part_count, 'part')} and {count(session.word_count, 'word')} "
            f"wait in the trash (T) for {count(days, 'day')}. Press u right after to bring it "
            "back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._run(self._delete, session.id, session.title, group="delete")

        self._push_screen(
            ConfirmScreen(
                titled("Move ", session.title, " to the trash?"), detail, yes="Move to trash"
            ),
            answered,
        )

    def _delete(self, session_id: str, title: str) -> None:
        try:
            self._runtime.sessions.delete(self._writer(), session_id)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._host.post_message(SessionDeleted(session_id, title))

    def deleted(self, event: SessionDeleted) -> str:
        """Remember the story for `u`; what to tell the writer."""
        self.last_deleted = (event.session_id, event.title)
        return f"“{one_line(event.title)}” moved to the trash — u to undo."

    def delete_part(self, session: Session) -> None:
        """Ask, then move the selected part (else the last) to the trash, with all its takes."""
        from storyterm.tui.screens.confirm import ConfirmScreen

        if self._still_opening("x"):
            return
        part = self._story.target_part
        if part is None:
            self._say("This story has no parts to delete.")
            return
        if str(session.status) == "completed":
            self._say(
                f"“{one_line(session.title)}” is completed and read-only. Press C to reopen it."
            )
            return
        takes = f", with its {part.takes} takes," if part.takes > 1 else ""
        detail = (
            f"Part {part.seq} ({count(part.word_count, 'word')}){takes} goes to the trash (T); "
            "the parts after it move up one. Press u right after to bring it back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.forget_deleted()
                self._run(self._delete_part, session.id, part.seq, group="delete")

        question = titled(f"Move part {part.seq} of ", session.title, " to the trash?")
        self._push_screen(ConfirmScreen(question, detail, yes="Move to trash"), answered)

    def _delete_part(self, session_id: str, seq: int) -> None:
        writer = self._writer()
        try:
            self._runtime.history.delete_part(writer, session_id, seq)
            session = self._runtime.sessions.get(writer, session_id)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._host.post_message(PartDeleted(session, seq))

    def open_trash(self) -> None:
        """The trash: what was deleted, to restore or delete for good."""
        from storyterm.tui.screens.trash import TrashScreen

        self._push_screen(TrashScreen(self._runtime.settings.trash_days), self._trash_closed)

    def _trash_closed(self, changes: TrashChanges | None) -> None:
        if changes is None or not changes:
            return
        if self.last_deleted is not None and self.last_deleted[0] in changes.touched:
            self.forget_deleted()  # restored, or gone for good: nothing for `u` to bring back
        self._host.post_message(TrashClosed(changes))

    # -- reopening -------------------------------------------------------------------------

    def reopen(self, session: Session) -> None:
        """A completed story becomes active again (u undoes that too)."""
        if str(session.status) != "completed":
            self._say(f"“{one_line(session.title)}” is not completed: there is nothing to reopen.")
            return
        self.forget_deleted()
        self._run(self._reopen, session.id, group="status")

    def _reopen(self, session_id: str) -> None:
        try:
            session = self._runtime.history.reopen(self._writer(), session_id)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            note = f"Reopened “{one_line(session.title)}”: write on (u closes it again)."
            self._host.post_message(SessionChanged(session, note, focus_input=True))
