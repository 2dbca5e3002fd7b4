"""Searching inside stories from the main screen: ctrl+f opens the search screen, the result
chosen there opens its story at that part, and F3 / shift+F3 go to the open story's next and
previous part holding the same words.

Finder owns the last search and the part waiting to be shown until its story is on screen; its
reads run in thread workers of the story column, which hand the answers back on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storyterm.errors import StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import WorkFailed
from storyterm.tui.text import one_line
from storyterm.tui.widgets.story_pages import PAGE

if TYPE_CHECKING:
    from textual.widget import Widget

    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Part, Session
    from storyterm.tui.readers import Reader
    from storyterm.tui.screens.search import SearchPick
    from storyterm.tui.widgets.story_view import StoryView

#: Parts shown above a part jumped to, so that it is read in its place.
_CONTEXT = 2


def step_to(seqs: list[int], current: int | None, step: int) -> tuple[int, bool]:
    """The match after (step 1) or before (step -1) part `current`, and whether the search went
    round the end of the story to find it. `seqs` is not empty and in story order."""
    if step > 0:
        later = [s for s in seqs if current is None or s > current]
        return (later[0], False) if later else (seqs[0], True)
    earlier = [s for s in seqs if current is None or s < current]
    return (earlier[-1], False) if earlier else (seqs[-1], True)


class Finder:
    """The search screen and find next / previous, for the main screen's keys."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        writer: Callable[[], int],
        reader: Reader,
        story: StoryView,
        *,
        open_story: Callable[[str], None],
        push_screen: Callable[..., Any],
        writing: Callable[[], bool],
    ) -> None:
        #: Runs the workers, shows notifications (the story column).
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._reader = reader
        self._story = story
        self._open_story = open_story
        self._push_screen = push_screen
        self._writing = writing
        #: What the writer searched for last (F3 goes on with it; ctrl+f shows it again).
        self.query = ""
        #: (story, part) to show once that story is on screen.
        self._pending: tuple[str, int] | None = None

    def _run(self, work: Callable[..., None], *args: Any, group: str) -> None:
        run_in_thread(self._host, work, *args, group=group, exclusive=True)

    def _later(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run `callback(*args)` on the event loop (from a worker thread)."""
        self._host.app.call_from_thread(callback, *args)

    # -- the search screen -----------------------------------------------------------------

    def search(self) -> None:
        """The search screen, holding the last search; its chosen result opens at its part."""
        from storyterm.tui.screens.search import SearchScreen

        self._push_screen(SearchScreen(self.query), self._picked)

    def _picked(self, pick: SearchPick | None) -> None:
        if pick is None:
            return
        self.query = pick.query
        self.go_to(pick.session_id, pick.seq)

    def go_to(self, session_id: str, seq: int) -> None:
        """Show part `seq` of the story, selected, opening the story first if need be."""
        if self._story.shown_session_id == session_id:
            self._show(session_id, seq)
        elif self._writing():
            self._host.notify(
                "A part is being written here: let it finish or stop it (Esc), then open the "
                "result again (ctrl+f, Enter)."
            )
        else:
            self._pending = (session_id, seq)
            self._open_story(session_id)

    def shown(self, session_id: str) -> None:
        """A story is on screen now (the column calls this): the part waiting for it, if any."""
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == session_id:
            self._show(*pending)

    def _show(self, session_id: str, seq: int) -> None:
        if self._story.part_view(seq) is not None:
            self._story.anchor(False)  # (a story just opened holds to its end)
            self._story.call_after_refresh(setattr, self._story, "selected", seq)  # scrolls
        else:
            self._run(self._load_window, session_id, seq, group="find-window")

    def _load_window(self, session_id: str, seq: int) -> None:
        try:
            parts, part_count = self._reader.parts_after(
                session_id, max(0, seq - 1 - _CONTEXT), PAGE
            )
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._later(self._window_loaded, session_id, seq, parts, part_count)

    async def _window_loaded(
        self, session_id: str, seq: int, parts: list[Part], part_count: int
    ) -> None:
        await self._story.show_window(session_id, parts, part_count)
        if self._story.part_view(seq) is not None:
            self._story.call_after_refresh(setattr, self._story, "selected", seq)  # scrolls

    # -- find next / previous in the open story --------------------------------------------

    def step(self, session: Session | None, step: int) -> None:
        """F3 (1) / shift+F3 (-1): the open story's next / previous part holding the last
        search; ctrl+f (0), or F3 without a search yet: the search screen."""
        if step == 0 or not self.query:
            self.search()
        elif session is None:
            self._host.notify("Open a story first, then F3 finds the next match in it.")
        else:
            current = self._story.selected
            self._run(self._find, session.id, self.query, current, step, group="find")

    def _find(self, session_id: str, query: str, current: int | None, step: int) -> None:
        try:
            seqs = self._runtime.sessions.searching.find_in_story(self._writer(), session_id, query)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._later(self._found, session_id, query, seqs, current, step)

    def _found(
        self, session_id: str, query: str, seqs: list[int], current: int | None, step: int
    ) -> None:
        words = f"“{one_line(query)}”"
        if not seqs:
            self._host.notify(f"No part of this story holds {words}.", markup=False)
            return
        seq, wrapped = step_to(seqs, current, step)
        where = f"{seqs.index(seq) + 1} of {len(seqs)}"
        round_ = (" (from the start)" if step > 0 else " (from the end)") if wrapped else ""
        self._host.notify(f"{words}: part {seq:,}, match {where}{round_}.", markup=False)
        self._show(session_id, seq)
