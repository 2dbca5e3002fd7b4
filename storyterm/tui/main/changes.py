"""What a change to one of the writer's stories means for the main screen: its row in the list,
the story pane, the direction bar's focus and the note to the writer; whether the change was
made here (a use case's message) or in another window (live.py, whose listener this owns).

The open session stays the screen's: the screen sets it from the message, then hands the
message here (a helper never writes the screen's state).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from storyterm.errors import DatabaseUnavailable, NotFound
from storyterm.tui.widgets.direction import why_disabled
from storyterm.tui.widgets.story_notes import GONE, NONE_LEFT

if TYPE_CHECKING:
    from textual.widget import Widget

    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Session
    from storyterm.errors import StorytermError
    from storyterm.tui.main.live import Live
    from storyterm.tui.main.panes import Panes
    from storyterm.tui.messages import ClosedElsewhere, SessionChanged, WorkFailed
    from storyterm.tui.screens.trash import TrashChanges


class StoryChanges:
    """Puts the changes to the writer's stories on the list, the story column and the status
    line of the screen `host`; listens for those made elsewhere while a writer is signed in."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        panes: Panes,
        open_session: Callable[[str], None],
        report_error: Callable[[StorytermError], None],
    ) -> None:
        self._host = host
        self._runtime = runtime
        self._panel = panes.panel
        self._column = panes.column
        self._status_bar = panes.status_bar
        self._open = open_session
        self._report_error = report_error

    # -- made here ---------------------------------------------------------------------------

    def changed(self, event: SessionChanged, shown: Session | None, focused: Widget | None) -> None:
        """A use case changed a session (`shown`: the open session, as the screen now holds
        it): its row, the note, and the keyboard away from an input that cannot be written in."""
        if event.note:
            # The writer changed something: `u` is about that now.
            self._column.history.forget_deleted()
        self._status_bar.database_ok = True
        self._panel.update_session(event.session)
        if event.note:
            self._host.notify(event.note, markup=False)
        bar = self._column.direction_bar
        if event.focus_input:
            bar.focus_input()
        elif why_disabled(shown) is not None and focused is bar.input:
            self._panel.session_list.focus()

    async def gone(self, session_id: str, *, was_open: bool) -> None:
        """The story left the list (to the trash): show the next one if it was open."""
        self._panel.remove_session(session_id)
        if was_open:
            next_id = self._panel.highlighted_id
            if next_id is not None:
                self._open(next_id)
            else:
                await self._column.story.clear(NONE_LEFT)
            self._panel.session_list.focus()

    def stepped(self, session: Session, *, is_open: bool) -> None:
        """An undo or a redo changed `session` (listed, or back from the trash)."""
        if not self._panel.shows(session.id):  # back from the trash
            self._panel.load(reset=True, keep=session.id)
            self._open(session.id)
        elif is_open:
            self._column.story.reload()
        else:
            self._open(session.id)

    def trash_closed(self, changes: TrashChanges, shown: Session | None) -> None:
        """The trash screen brought back or deleted for good what `changes` says (the story
        column shows the open story's parts back)."""
        if changes.stories_back:
            self._panel.load(reset=True, keep=shown.id if shown else None)
        for session_id in changes.gone:
            self._panel.remove_session(session_id)
        if shown is not None and shown.id in changes.parts_back:
            self._column.actions.refresh(shown.id)

    def failed(self, event: WorkFailed, *, booted: bool, was_open: bool) -> None:
        """A worker's use case said no: the status line, a story deleted meanwhile, the note."""
        error = event.error
        if isinstance(error, DatabaseUnavailable):
            self._status_bar.database_ok = False
        elif booted:
            self._status_bar.database_ok = True
        if isinstance(error, NotFound) and event.session_id is not None:
            # Deleted from another window or machine: take it off the list too.
            self._panel.remove_session(event.session_id)
            if was_open:
                self._host.call_later(self._column.story.clear, GONE)
        self._report_error(error)

    # -- made elsewhere (live.py) ------------------------------------------------------------

    @cached_property
    def live(self) -> Live:
        """The listener for the changes made in other windows."""
        from storyterm.tui.main.live import Live

        story = self._column.live
        return Live(
            self._host, self._runtime, panel=self._panel, status_bar=self._status_bar, story=story
        )

    async def closed_elsewhere(self, event: ClosedElsewhere) -> None:
        """The open story went to the trash in another window (the screen closed it)."""
        self._host.notify(event.note, severity="warning", timeout=15, markup=False)
        await self._column.story.clear(event.note)

    def stop_listening(self) -> None:
        if "live" in self.__dict__:
            self.live.stop()
