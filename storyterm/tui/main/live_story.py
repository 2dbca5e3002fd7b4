"""The open story as other windows change it: a part another window is writing streams in, marked
so, and becomes the saved part when it ends; any other change shows as the database holds it;
a story moved to the trash elsewhere closes, saying how to get it back.

LiveStory is the story column's (story_column.py): the main screen's listener (live.py) hands it
each event about the open story. Text events are the fast path: each piece goes onto the part
being written elsewhere when it follows what is shown (`offset`); anything else, a piece that
does not follow (a lost event) included, reads the story and the part again in a worker, and
the database decides what is shown (LiveRead). While this window writes a part of the story
itself, the events about it are its own and are not listened to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storyterm.core.basics import STREAM_STALE_AFTER, PartState, utcnow
from storyterm.errors import NotFound, StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import ClosedElsewhere, LiveRead, SessionChanged
from storyterm.tui.text import one_line

if TYPE_CHECKING:
    from textual.timer import Timer

    from storyterm.core.events import Event
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Part, Session
    from storyterm.tui.main.story_column import StoryColumn
    from storyterm.tui.widgets.direction import DirectionBar
    from storyterm.tui.widgets.part_view import PartView
    from storyterm.tui.widgets.story_view import StoryView

#: Text events kept while the part they belong to is being read (a bound: the read is quick).
MAX_WAITING = 2_000
#: Seconds between looks at a part being written elsewhere that has gone quiet.
QUIET_CHECK = 5.0


@dataclass(slots=True)
class _Remote:
    """The part another window is writing, as shown here."""

    session_id: str
    seq: int
    view: PartView
    #: How much of its text is on screen (characters).
    heard: int
    #: A piece was missed: the text on screen stops short of what was heard since. The next
    #: checkpoint (part.saved) brings it from the database.
    stale: bool = False
    last_heard: float = field(default_factory=time.monotonic)


def being_written(part: Part) -> bool:
    """Whether `part` is being written now (by a client that is still alive)."""
    return part.state is PartState.STREAMING and part.updated_at > utcnow() - STREAM_STALE_AFTER


def closed_note(title: str, *, for_good: bool) -> str:
    """What the writer is told when the open story is deleted elsewhere."""
    title = f"“{one_line(title)}”"
    if for_good:
        return f"{title} was deleted for good in another window."
    return (
        f"{title} was moved to the trash in another window. Press T to open the trash and "
        "bring it back."
    )


class LiveStory:
    """Keeps the open story in step with the other windows (see the module's docstring)."""

    def __init__(
        self,
        host: StoryColumn,
        runtime: Runtime,
        writer: Callable[[], int],
        story: StoryView,
        direction: DirectionBar,
    ) -> None:
        #: Runs the reads and receives their LiveRead; knows the open session and whether
        #: this window is writing a part.
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._story = story
        self._direction = direction
        self._remote: _Remote | None = None
        #: Text events for a part not (yet) shown as being written elsewhere.
        self._waiting: list[Event] = []
        self._reading = False
        #: Another read was asked for while one was under way: of this part (0: the last).
        self._read_again: int | None = None
        self._quiet: Timer | None = None
        #: A part being written elsewhere that the pane does not show (scrolled far up): its
        #: text events are let go, and its checkpoints look again whether it is in sight.
        self._out_of_sight: int | None = None

    @property
    def remote_seq(self) -> int | None:
        """The part of the open story being written elsewhere, as shown (None: none)."""
        remote = self._current()
        return remote.seq if remote is not None else None

    def writing_here(self, session_id: str) -> bool:
        """Whether this window is writing a part of that story (its events are its own)."""
        session = self._host.session
        return self._host.generating and session is not None and session.id == session_id

    def _open(self) -> Session | None:
        """The open story when its events are to be listened to (not while this window writes
        a part of it: those events are its own)."""
        if self._host.generating:
            return None
        return self._host.session

    def _current(self) -> _Remote | None:
        remote = self._remote
        session = self._host.session
        if remote is not None and (
            not remote.view.is_attached or session is None or session.id != remote.session_id
        ):
            self._drop()
            return None
        return remote

    # -- events ----------------------------------------------------------------------------

    async def heard(self, event: Event) -> None:
        """An event about one of the writer's stories (the listener hears them all)."""
        from storyterm.core.events import EventKind

        session = self._open()
        if session is None or event.session_id != session.id:
            return
        kind = event.kind
        if kind in (EventKind.SESSION_DELETED, EventKind.SESSION_REMOVED):
            note = closed_note(session.title, for_good=kind is EventKind.SESSION_REMOVED)
            self._host.post_message(ClosedElsewhere(session.id, note))
        elif kind is EventKind.TEXT_ADDED:
            await self._text(event)
        elif event.synthetic or event.version is None or event.version > session.version:
            # (A checkpoint of a part being written elsewhere, too: its words, and the text a
            # missed piece left out, come from the database.)
            if (remote := self._current()) is not None and remote.seq == event.seq:
                remote.last_heard = time.monotonic()
            self.read(event.seq)
        # else: a change this window made and shows already

    async def _text(self, event: Event) -> None:
        remote = self._current()
        following = remote is not None and remote.seq == event.seq
        if remote is not None and following and not self._reading:
            await self._apply(remote, event)
            return
        if event.seq == self._out_of_sight:
            return
        if len(self._waiting) < MAX_WAITING:
            self._waiting.append(event)
        if not following:  # not shown as being written here yet: read it
            self.read(event.seq)

    async def _apply(self, remote: _Remote, event: Event) -> None:
        assert event.offset is not None and event.text is not None
        remote.last_heard = time.monotonic()
        skip = remote.heard - event.offset
        if skip < 0:
            remote.stale = True  # missed a piece: the next checkpoint brings it
        elif skip < len(event.text):
            await remote.view.write(event.text[skip:])
            remote.heard = event.offset + len(event.text)

    def resync(self) -> None:
        """Events may have been missed: read the open story again."""
        if self._open() is not None:
            self.read(None)

    # -- reading the story again -------------------------------------------------------------

    def read(self, seq: int | None) -> None:
        """Read the open story and its part `seq` (None: its last part) in a worker; LiveRead
        brings them back to `arrived`."""
        session = self._open()
        if session is None:
            return
        if self._reading:
            self._read_again = seq or 0
            return
        self._reading = True
        run_in_thread(self._host, self._read, session.id, seq, group="live-story")

    def _read(self, session_id: str, seq: int | None) -> None:
        sessions = self._runtime.sessions
        part = None
        try:
            user_id = self._writer()
            session = sessions.get(user_id, session_id)
            if seq or session.part_count:
                part = sessions.get_part(user_id, session_id, seq or session.part_count)
        except NotFound:
            session = None
        except StorytermError:  # the database is not answering: the next event asks again
            self._host.post_message(LiveRead(session_id, None, None, gone=False))
            return
        self._host.post_message(LiveRead(session_id, session, part, gone=session is None))

    async def arrived(self, event: LiveRead) -> None:
        """The open story as the database holds it now: show it so."""
        self._reading = False
        open_ = self._open()
        if open_ is not None and open_.id == event.session_id:
            if event.session is None:
                if event.gone:
                    note = closed_note(open_.title, for_good=False)
                    self._host.post_message(ClosedElsewhere(open_.id, note))
                return
            if event.session.version > open_.version:
                self._host.post_message(SessionChanged(event.session))
            if event.part is not None:
                await self._show(event.part)
            await self._take_waiting()
        if self._read_again is not None:
            seq, self._read_again = self._read_again, None
            self.read(seq or None)

    async def _show(self, part: Part) -> None:
        if being_written(part):
            await self._streaming(part)
            return
        remote = self._current()
        self._waiting = [e for e in self._waiting if e.seq != part.seq]
        if self._out_of_sight == part.seq:
            self._out_of_sight = None
        if remote is not None and remote.seq == part.seq:
            self._drop()
            await remote.view.end_stream(part)  # the saved part, whole
            self._story.mark_earlier_takes()
        elif not self._as_shown(part):
            self._story.reload()  # a part added, edited, chosen... elsewhere

    def _as_shown(self, part: Part) -> bool:
        """Whether the pane shows `part` as it is (nothing to read again)."""
        view = self._story.part_view(part.seq)
        if view is None or view.streaming:
            return False
        shown = view.part
        return (shown.take, shown.updated_at, shown.state) == (
            part.take,
            part.updated_at,
            part.state,
        )

    async def _streaming(self, part: Part) -> None:
        """Part `part` is being written elsewhere: stream it in from what the database has."""
        remote = self._current()
        if remote is None or remote.seq != part.seq:
            view = self._story.part_view(part.seq)
            if view is None or not view.streaming:  # (this window's own part: sent from here)
                self._direction.heard(part.session_id, part.direction)
            remote = await self._begin(part)
            if remote is None:
                self._out_of_sight = part.seq
                self._waiting = [e for e in self._waiting if e.seq != part.seq]
                return
            self._out_of_sight = None
        elif len(part.content) > remote.heard:
            await remote.view.write(part.content[remote.heard :])
            remote.heard = len(part.content)
        remote.view.checkpointed(part)
        remote.stale = False

    async def _take_waiting(self) -> None:
        """The text events that waited for a read, onto the part being written elsewhere."""
        remote = self._current()
        if remote is None:
            return
        waiting = [e for e in self._waiting if e.seq == remote.seq]
        self._waiting = [e for e in self._waiting if e.seq != remote.seq]
        for event in waiting:
            await self._apply(remote, event)

    async def _begin(self, part: Part) -> _Remote | None:
        """Show `part` as being written elsewhere: its view, where the pane shows it, else a
        new view at the bottom when the pane shows the newest parts (None: not in sight)."""
        story = self._story
        view = story.part_view(part.seq)
        if view is None:
            last = story.part_views[-1].seq if story.part_views else 0
            if story.has_more_after or part.seq <= last:
                return None
            view = await story.add_part(part)
            story.follow(view)
        elif view.streaming:
            return None  # being streamed by this window (its own run)
        else:
            view.update_part(part)
        if (old := self._current()) is not None:  # its end was missed: show it as saved
            self._drop()
            await old.view.end_stream(None)
            story.reload()
        view.begin_stream(text=part.content, elsewhere=True)
        self._remote = _Remote(part.session_id, part.seq, view, heard=len(part.content))
        self._direction.elsewhere = True
        self._quiet = self._host.set_interval(QUIET_CHECK, self._check_quiet)
        return self._remote

    def _check_quiet(self) -> None:
        """Nothing heard of the part for a while (the other window died, or the events are
        lost): read it again, which ends it here once it no longer counts as being written."""
        remote = self._current()
        if remote is not None and time.monotonic() - remote.last_heard > QUIET_CHECK:
            self.read(remote.seq)

    def _drop(self) -> None:
        if self._quiet is not None:
            self._quiet.stop()
            self._quiet = None
        self._remote = None
        self._direction.elsewhere = False

    # -- the pane ----------------------------------------------------------------------------

    async def shown(self, session: Session) -> None:
        """The pane shows `session`'s newest parts now (opened, or opened again): a part of it
        that another window is writing streams in from here on."""
        self._current()  # a part shown before is gone with the views it had
        self._out_of_sight = None
        self._waiting = [e for e in self._waiting if e.session_id == session.id]
        last = self._story.last_part
        if self._open() is not None and last is not None and being_written(last):
            await self._streaming(last)
