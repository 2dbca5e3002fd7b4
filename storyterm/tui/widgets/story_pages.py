"""The story pane's paging: how many parts it mounts, and what it reads from the database.

The pane (story_view.py) mounts and unmounts parts; its PartPager asks the pane's reader for a
story's newest parts, the page before or after the window, or the window again, each in a
thread worker of the pane, and keeps the parts read with a story but not mounted yet. Every read
answers the pane with a message: StoryOpened, OlderLoaded, NewerLoaded or PartsReloaded, or
WorkFailed when the database said no.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from storyterm.errors import StorytermError
from storyterm.tui.messages import (
    NewerLoaded,
    OlderLoaded,
    PartsReloaded,
    StoryOpened,
    WorkFailed,
)

if TYPE_CHECKING:
    from textual.widget import Widget

    from storyterm.core.views import OpenedSession, Part

#: Parts mounted at most; beyond this the far end of the window is unmounted.
WINDOW = 60
#: Parts loaded per page when scrolling past either end of the window.
PAGE = 20
#: The newest parts read when a story opens (the pane mounts those that fill it first).
TAIL = 20
#: Parts mounted at most before the first frame of a story (fewer when they fill the pane).
FIRST_SCREEN = 6


class PartPages(Protocol):
    """Where the pane reads a story's newest parts and the parts around its window. Called in
    a worker thread."""

    def open(self, session_id: str, tail: int) -> OpenedSession: ...

    def parts_before(self, session_id: str, before_seq: int, limit: int) -> list[Part]: ...

    def parts_after(self, session_id: str, after_seq: int, limit: int) -> tuple[list[Part], int]:
        """Up to `limit` parts after `after_seq`, and the session's part count."""
        ...


def screenful(parts: list[Part], width: int, height: int) -> int:
    """How many of the newest `parts` fill a pane of `width` x `height` about one and a half
    times (at least one, at most FIRST_SCREEN)."""
    width = max(20, width - 8)
    want = max(10, height) * 3 // 2
    lines = 0
    for count_, part in enumerate(reversed(parts), 1):
        text = part.content
        lines += 4 + text.count("\n") + len(text) // width
        if lines >= want or count_ >= FIRST_SCREEN:
            return count_
    return max(1, len(parts))


class PartPager:
    """The reads of one story pane, and the parts it read ahead of the window."""

    def __init__(self, pane: Widget, reader: PartPages) -> None:
        #: Runs the workers and receives their messages.
        self._pane = pane
        self._reader = reader
        #: Parts of the opened tail not mounted yet (mounted when the writer scrolls up).
        self.held: list[Part] = []
        #: Whether the database has parts before the opened tail.
        self.more_in_db = False

    def _run(self, work: Callable[..., None], *args: Any, group: str) -> None:
        # One read of a kind at a time: a newer request makes the older one moot.
        self._pane.run_worker(
            partial(work, *args),
            name=work.__name__,
            group=group,
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _failed(self, error: StorytermError, session_id: str) -> None:
        self._pane.post_message(WorkFailed(error, session_id=session_id))

    # -- the parts read ahead --------------------------------------------------------------

    def hold(self, opened: OpenedSession, keep: int) -> list[Part]:
        """Of an opened story's tail, the `keep` newest parts to mount now; the rest are held
        for when the writer scrolls up (no second trip to the database)."""
        parts = opened.parts
        first, self.held = parts[-keep:], parts[:-keep]
        self.more_in_db = opened.has_more_before
        return first

    def take_held(self) -> list[Part]:
        held, self.held = self.held, []
        return held

    def drop_held(self) -> None:
        """The held parts no longer join the window (it was trimmed or cleared): the next page
        before is read from the database."""
        self.held = []

    # -- reads -----------------------------------------------------------------------------

    def open(self, session_id: str, focus_input: bool) -> None:
        """The story's newest parts (StoryOpened)."""
        self._run(self._open, session_id, focus_input, group="open")

    def _open(self, session_id: str, focus_input: bool) -> None:
        try:
            opened = self._reader.open(session_id, TAIL)
        except StorytermError as exc:
            self._failed(exc, session_id)
        else:
            self._pane.post_message(StoryOpened(opened, focus_input))

    def reload(self, session_id: str, first_seq: int, limit: int, asked: int) -> None:
        """Up to `limit` parts from `first_seq` on, and the part count (PartsReloaded, which
        carries `asked` back)."""
        self._run(self._reload, session_id, first_seq, limit, asked, group="reload")

    def _reload(self, session_id: str, first_seq: int, limit: int, asked: int) -> None:
        try:
            parts, part_count = self._reader.parts_after(session_id, first_seq - 1, limit)
        except StorytermError as exc:
            self._failed(exc, session_id)
        else:
            self._pane.post_message(PartsReloaded(session_id, parts, part_count, asked))

    def older(self, session_id: str, before_seq: int) -> None:
        """The page before part `before_seq` (OlderLoaded)."""
        self._run(self._load_older, session_id, before_seq, group="older")

    def _load_older(self, session_id: str, before_seq: int) -> None:
        try:
            parts = self._reader.parts_before(session_id, before_seq, PAGE)
        except StorytermError as exc:
            self._failed(exc, session_id)
        else:
            self._pane.post_message(OlderLoaded(session_id, parts))

    def newer(self, session_id: str, after_seq: int) -> None:
        """The page after part `after_seq`, and the part count (NewerLoaded)."""
        self._run(self._load_newer, session_id, after_seq, group="newer")

    def _load_newer(self, session_id: str, after_seq: int) -> None:
        try:
            parts, part_count = self._reader.parts_after(session_id, after_seq, PAGE)
        except StorytermError as exc:
            self._failed(exc, session_id)
        else:
            self._pane.post_message(NewerLoaded(session_id, parts, part_count))
