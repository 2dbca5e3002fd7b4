"""The right-hand column: the open story, the direction bar under it, and what writes into them.

StoryColumn composes the story pane (widgets/story_view.py) and the direction bar, and owns the
work done on the open story: the part being written (Generation, generation.py), its takes, undo
and the trash (HistoryActions, history_actions.py), its other use cases (StoryActions,
story_actions.py), and the text failed saves left unsaved (UnsavedParts, unsaved.py). Their
workers run on the column and answer it with messages: it puts what
they mean for the parts onto the story pane, and the messages bubble on to the screen, which
routes what they mean for the rest (the session, the list, the status line). The screen's keys
call the column and its owners. Whether a part is being written is the column's (it runs the
Generation); the open session is the screen's, bound down.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import TextArea
from textual.worker import Worker, WorkerState

from storyterm.tui.messages import (
    ContextLoaded,
    ContextMeasured,
    Crashed,
    Exported,
    GenerationEnded,
    LiveRead,
    NotPutBack,
    PartDeleted,
    PutBack,
    RecoveriesFound,
    SessionChanged,
    StoryOpened,
    TakeShown,
    TrashClosed,
    Warmed,
)
from storyterm.tui.widgets.direction import DirectionBar, DirectionInput
from storyterm.tui.widgets.story_view import StoryView

if TYPE_CHECKING:
    from pathlib import Path

    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Session
    from storyterm.errors import StorytermError
    from storyterm.tui.main.find import Finder
    from storyterm.tui.main.gauge import ContextGauge
    from storyterm.tui.main.generation import Generation
    from storyterm.tui.main.history_actions import HistoryActions
    from storyterm.tui.main.live_story import LiveStory
    from storyterm.tui.main.story_actions import StoryActions
    from storyterm.tui.main.unsaved import UnsavedParts
    from storyterm.tui.readers import Reader


class StoryColumn(Vertical):
    """The open story's parts and the direction bar under them; the owners of the work on the
    open story (writing a part, its takes, undo and the trash, its other use cases)."""

    #: The open session (bound from the screen, which owns it; passed on to the pane and bar).
    session: reactive[Session | None] = reactive(None, init=False)
    #: A part is being written: the bar says so and Esc stops it (and the screen's keys that
    #: cannot work meanwhile leave the footer).
    generating: reactive[bool] = reactive(False, init=False, bindings=True)

    def __init__(
        self,
        runtime: Runtime,
        reader: Reader,
        writer: Callable[[], int],
        report_error: Callable[[StorytermError, str], None],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._runtime = runtime
        self._reader = reader
        self._writer = writer
        self._report_error = report_error
        self._generation: Generation | None = None
        self._unsaved: UnsavedParts | None = None
        #: The open story was read while a part of it was being written: read it again once
        #: the part ends (StoryOpened, below).
        self._open_after_run = False

    def compose(self) -> ComposeResult:
        yield StoryView(self._reader, id="story").data_bind(StoryColumn.session)
        yield DirectionBar(self._reader, id="direction-bar").data_bind(
            StoryColumn.session, StoryColumn.generating
        )

    @property
    def story(self) -> StoryView:
        return self.query_one(StoryView)

    @property
    def direction_bar(self) -> DirectionBar:
        return self.query_one(DirectionBar)

    # The owners of the work: made (and their modules imported) when first needed, after the
    # first frame.

    @property
    def generation(self) -> Generation:
        """The part being written."""
        if self._generation is None:
            from storyterm.tui.main.generation import Generation

            self._generation = Generation(
                self,
                self._runtime,
                self._writer,
                self.story,
                self.direction_bar,
                self._report_error,
                self.unsaved.keep,
            )
        return self._generation

    @property
    def unsaved(self) -> UnsavedParts:
        """The texts failed saves kept in recovery files, until they are saved."""
        if self._unsaved is None:
            from storyterm.tui.main.unsaved import UnsavedParts

            self._unsaved = UnsavedParts(self, self._runtime, self._writer, self.story)
        return self._unsaved

    @cached_property
    def actions(self) -> StoryActions:
        """The open story's use cases other than writing a part and its takes."""
        from storyterm.tui.main.story_actions import StoryActions

        return StoryActions(
            self,
            self._runtime,
            self._writer,
            push_screen=self.app.push_screen,
            stop_generation=self.stop,
            story=self.story,
        )

    @cached_property
    def history(self) -> HistoryActions:
        """The open story's takes, undo and the trash."""
        from storyterm.tui.main.history_actions import HistoryActions

        return HistoryActions(
            self, self._runtime, self._writer, push_screen=self.app.push_screen, story=self.story
        )

    @cached_property
    def finder(self) -> Finder:
        """Searching inside stories: the search screen, find next and previous."""
        from storyterm.tui.main.find import Finder

        return Finder(
            self,
            self._runtime,
            self._writer,
            self._reader,
            self.story,
            open_story=self.open,
            push_screen=self.app.push_screen,
            writing=lambda: self.generating,
        )

    @cached_property
    def live(self) -> LiveStory:
        """The open story as other windows change it (a part they write streams in)."""
        from storyterm.tui.main.live_story import LiveStory

        return LiveStory(self, self._runtime, self._writer, self.story, self.direction_bar)

    @on(LiveRead)
    async def _live_read(self, event: LiveRead) -> None:
        event.stop()
        await self.live.arrived(event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker states do not bubble: the app hears of a bug in the owners' work from here.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))

    # -- opening a story -------------------------------------------------------------------

    def open(self, session_id: str, *, focus_input: bool = False) -> None:
        """Read the story's newest parts; the pane's StoryOpened goes up to the screen, which
        shows them with the session (StoryView.show, then shown)."""
        self.story.open(session_id, focus_input=focus_input)

    def _is_open(self, session_id: str) -> bool:
        return self.session is not None and self.session.id == session_id

    def highlighted(self, session_id: str) -> None:
        """The list's cursor is on this story: open it once the cursor rests there. While a
        part is being written the pane stays on it."""
        if self.generating:
            return
        if self._is_open(session_id):
            self.story.keep_shown()
        else:
            self.story.open_when_resting(session_id)

    def chosen(self, session_id: str) -> None:
        """Enter on this story in the list: open it (unless a part is being written) and give
        the input the keyboard."""
        self.history.forget_deleted()  # `u` is about this story now
        if self._is_open(session_id):
            self.direction_bar.focus_input(explain=True)
        elif not self.generating:
            self.open(session_id, focus_input=True)

    def shown(self, session: Session, *, focus_input: bool) -> bool:
        """The pane shows `session`'s newest parts now (StoryView.show): with `focus_input`,
        give the input the keyboard (True when it took it); a part asked for before those
        parts were on screen starts (none is asked for before the Generation is made)."""
        focused = focus_input and self.direction_bar.focus_input()
        if self._generation is not None and self._generation.shown(session):
            self.generating = True
        if self._unsaved is not None:  # (made after the first frame: start-up told the rest)
            self._unsaved.tell(session.id)
        if "finder" in self.__dict__:  # a search result waiting for its story
            self.finder.shown(session.id)
        self.call_later(self.live.shown, session)  # a part another window is writing
        return focused

    async def forget(self, note: str) -> None:
        """The writer is gone (logged out): nothing of theirs stays in the column."""
        if self._unsaved is not None:
            self._unsaved.forget()
        await self.story.clear(note)

    # -- a part being written (generation.py) ----------------------------------------------

    def generate(
        self,
        session: Session,
        direction: str,
        *,
        regenerate: bool,
        part: int | None = None,
        finish: bool = False,
    ) -> None:
        """Ask the storyteller for the next part (or a new take of part `part`, else of the
        last part; with `finish`, the rest of that interrupted part) and stream it in."""
        self.history.forget_deleted()
        if self.generation.write(
            session, direction, regenerate=regenerate, part=part, finish=finish
        ):
            self.generating = True

    @on(DirectionBar.Write)
    def _write(self, event: DirectionBar.Write) -> None:
        # (The input takes Enter only while a story is open, so only once the writer is known.)
        event.stop()
        if self.session is not None:
            self.generate(self.session, event.direction, regenerate=False)

    def regenerate(self, session: Session) -> None:
        """A new take of the selected part (else the last), from the direction waiting in the
        input or else the part's own."""
        if self.generating:
            self.notify("A part is being written. Stop it (Esc) first.")
        elif session.part_count == 0:
            self.notify("This story has no part to write again yet: write one with Enter.")
        else:
            direction = self.direction_bar.text.strip()
            if direction:
                self.direction_bar.sent(direction)
            self.generate(session, direction, regenerate=True, part=self.story.selected)

    def finish(self, session: Session) -> None:
        """F: the selected part (else the last), interrupted, goes on from where it stopped."""
        self.generate(session, "", regenerate=False, part=self.story.selected, finish=True)

    def stop(self) -> None:
        """Esc: stop the part being written and keep what was written."""
        self.generation.stop()

    @on(DirectionInput.Stop)
    def _direction_stop(self, event: DirectionInput.Stop) -> None:
        event.stop()
        self.stop()

    @on(StoryOpened)
    def _story_opened(self, event: StoryOpened) -> None:
        # A reading of the open story asked for before Enter (the end of the part before, a
        # reload) would put the pane back as the story was then, taking away the part being
        # written (whose run then failed, and asked for a reading of its own: one failure
        # after the other while the writer kept writing). It is read again after the part.
        if self.generating and self._is_open(event.opened.session.id):
            event.stop()
            self._open_after_run = True

    @on(GenerationEnded)
    def _generation_ended(self, event: GenerationEnded) -> None:
        # The part shows as saved already; the session (its counts) goes up to the screen.
        event.stop()
        self.generating = False
        if event.outcome is not None:
            self.post_message(SessionChanged(event.outcome))
        else:
            self.actions.refresh(event.session_id)
        if event.reopen or self._open_after_run:
            self._open_after_run = False
            self.open(event.session_id)  # show what is stored
        self.story.mark_earlier_takes()  # the part written again may be back to its old take

    async def stop_and_wait(self) -> None:
        """Stop the part being written and wait until its text is saved (quitting)."""
        if self._generation is not None:
            await self._generation.stop_and_wait()

    def warm(self, *, freeze: bool) -> None:
        """After the first frame: get the generation stack ready (Generation.warm), and look
        for text earlier runs could not save."""
        self.generation.warm(freeze=freeze)
        self.unsaved.look()

    # -- the context meter (gauge.py): the status line's "ctx 5.1k/8k" ----------------------

    @cached_property
    def gauge(self) -> ContextGauge:
        from storyterm.tui.main.gauge import ContextGauge

        return ContextGauge(
            self,
            self._runtime,
            self._writer,
            typed=lambda: self.direction_bar.text,
            busy=lambda: self.generating,
        )

    def watch_session(self, session: Session | None) -> None:
        if not self.generating:  # measured again once the part is saved
            self.gauge.follow(session)

    @on(Warmed)
    def _warmed(self, event: Warmed) -> None:
        event.stop()
        self.gauge.ready()
        self.direction_bar.start()  # the open story's earlier directions, now the Store is open

    @on(ContextMeasured)
    def _measured(self, event: ContextMeasured) -> None:
        event.stop()
        self.gauge.measured(event)

    @on(TextArea.Changed, "#direction")
    def _typed(self, event: TextArea.Changed) -> None:
        self.gauge.typed(event.text_area.text)

    # -- takes, undo and the trash (history_actions.py): the parts' side --------------------

    @on(TakeShown)
    def _take_shown(self, event: TakeShown) -> None:
        event.stop()
        if self.story.shown_session_id == event.part.session_id:
            self.story.update_part(event.part)
        self.post_message(SessionChanged(event.session))  # its words follow the take

    @on(StoryView.Selected)
    def _part_selected(self, event: StoryView.Selected) -> None:
        self.refresh_bindings()  # the take keys follow the selected part

    @on(PartDeleted)
    def _part_deleted(self, event: PartDeleted) -> None:
        event.stop()
        note = f"Part {event.seq} moved to the trash — u to undo."
        self.post_message(SessionChanged(event.session, note))
        self.story.reload()

    @on(TrashClosed)
    def _trash_closed(self, event: TrashClosed) -> None:
        if self.session is not None and self.session.id in event.changes.parts_back:
            self.story.reload()

    # -- the story's other use cases (story_actions.py) -------------------------------------

    @on(Exported)
    def _exported(self, event: Exported) -> None:
        event.stop()
        self.actions.exported(event)

    @on(ContextLoaded)
    def _context_loaded(self, event: ContextLoaded) -> None:
        event.stop()
        self.actions.show_context(event)

    # -- text failed saves left unsaved (unsaved.py) ----------------------------------------

    @property
    def has_unsaved(self) -> bool:
        """Whether text of the writer waits to be put back (R has something to do)."""
        return self._unsaved is not None and self._unsaved.waiting

    def unsaved_files(self) -> list[Path]:
        """The recovery files holding this run's unsaved text (named when the app quits)."""
        return self._unsaved.files() if self._unsaved is not None else []

    def on_screen_only(self) -> list[tuple[str, int]]:
        """The parts whose text not even a recovery file holds: (story title, part number)."""
        return self._unsaved.lost_on_quit() if self._unsaved is not None else []

    @on(RecoveriesFound)
    def _recoveries_found(self, event: RecoveriesFound) -> None:
        event.stop()
        self.unsaved.found(event, self.session.id if self.session is not None else None)
        self.refresh_bindings()  # R shows in the key bar while text waits

    @on(PutBack)
    def _put_back(self, event: PutBack) -> None:
        event.stop()
        self.unsaved.put(event)
        session_id = event.recovered.unsaved.session_id
        if self.story.shown_session_id == session_id:
            self.story.reload()  # the part as saved (a new take, or a new part at the end)
        self.actions.refresh(session_id)  # its counts
        self.refresh_bindings()

    @on(NotPutBack)
    def _not_put_back(self, event: NotPutBack) -> None:
        event.stop()
        self.unsaved.not_put(event)
        shown = self.story.shown_session_id == event.recovered.unsaved.session_id
        if event.error is None and shown:
            self.story.reload()  # the file went elsewhere: show what the database holds
        self.refresh_bindings()
