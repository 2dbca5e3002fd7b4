"""A part being written, on screen: the storyteller's events mapped onto a PartView.

Generation owns the run (its worker, its cancel event, the PartView it streams into) and
talks back to the story column it runs on (story_column.py) only with messages, which go on up
to the screen: Health when the run shows whether Ollama answers, GenerationEnded when the part
is saved (or was never begun). A part whose final save failed keeps every word on screen and is
handed to the column's UnsavedParts (unsaved.py), which saves it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from msgspec import structs

from storyterm.core.basics import finish_refusal
from storyterm.errors import (
    Conflict,
    GenerationStopped,
    ModelFailed,
    ModelMissing,
    ModelUnavailable,
    OllamaUnreachable,
    StorytermError,
)
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import GenerationEnded, Health, Warmed
from storyterm.tui.models import warm_generation_imports
from storyterm.tui.text import count
from storyterm.tui.widgets.direction import why_disabled
from storyterm.tui.widgets.part_view import provisional_part

if TYPE_CHECKING:
    from textual.widget import Widget
    from textual.worker import Worker

    from storyterm.core.generation.events import (
        Failed,
        Finished,
        Progress,
        Saved,
        TextDelta,
        Thinking,
    )
    from storyterm.core.recovery import Recovered
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Part, Session
    from storyterm.tui.widgets.direction import DirectionBar
    from storyterm.tui.widgets.part_view import PartView
    from storyterm.tui.widgets.story_view import StoryView


def ollama_health(error: StorytermError) -> Health | None:
    """What a failed generation says about Ollama, for the status line: a model error is not
    an Ollama that is down (None: nothing; a missing model is told on its own)."""
    if isinstance(error, OllamaUnreachable):
        return Health(ollama_up=False, cache=None)
    if isinstance(error, ModelFailed):
        return Health(ollama_up=True, cache=None, model_error=error.message)
    if isinstance(error, ModelUnavailable) and not isinstance(error, ModelMissing):
        # Broke off, timed out, said nothing: is Ollama still there? Ask it.
        return Health(ollama_up=None, cache=None, recheck=True)
    return None


class _Run:
    """What one generation has learnt so far, while its events arrive."""

    __slots__ = (
        "cleared",
        "direction",
        "finish",
        "first_token_at",
        "kept",
        "outcome",
        "recovery",
        "reload",
        "replaced",
        "session",
        "tokens",
        "unsaved",
        "view",
    )

    def __init__(
        self,
        session: Session,
        direction: str,
        view: PartView,
        replaced: Part | None,
        finish: bool = False,
    ) -> None:
        self.session = session
        self.direction = direction
        #: The part on screen that the text streams into.
        self.view = view
        #: The part being written again (regenerate) or finished, else None.
        self.replaced = replaced
        #: Finishing `replaced`, which was interrupted: the text goes on from its end.
        self.finish = finish
        #: The direction input has been emptied (the part exists in the database).
        self.cleared = False
        self.tokens = 0
        self.first_token_at = 0.0
        #: The part as saved at the end (None: nothing was claimed).
        self.kept: Part | None = None
        #: The session after the run (None when the run did not finish).
        self.outcome: Session | None = None
        #: Another window wrote first: show the story as it now is.
        self.reload = False
        #: The text the final save could not store (None: saved, or nothing written), and the
        #: recovery file it went to instead (None: not even that could be written).
        self.unsaved: str | None = None
        self.recovery: Recovered | None = None


async def _drain(first: asyncio.Future[Any], events: Any) -> None:
    """Let a storyteller that was told to stop run to its end (it saves what it wrote)."""
    event = await first
    while event is not None:
        event = await anext(events, None)


class Generation:
    """Writes one part at a time into the story pane: start(), stop() on Esc, and
    stop_and_wait() when the app quits, so that the text written so far is saved."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        writer: Callable[[], int],
        story: StoryView,
        direction: DirectionBar,
        report_error: Callable[[StorytermError, str], None],
        keep_unsaved: Callable[[Part, Recovered | None], None],
    ) -> None:
        #: Runs the worker, shows notifications and receives the messages (the story column).
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._story = story
        self._direction = direction
        self._report_error = report_error
        #: Takes a part whose final save failed, shown with all its text (UnsavedParts.keep).
        self._keep_unsaved = keep_unsaved
        self._cancel: asyncio.Event | None = None
        self._worker: Worker[None] | None = None
        self._view: PartView | None = None
        #: A part asked for while the story's newest parts were being opened: (direction,
        #: regenerate, part, finish).
        self._waiting: tuple[str, bool, int | None, bool] | None = None
        #: The story as the last run left it: the screen hears of it a moment after the run
        #: ends (SessionChanged), and an Enter in that moment must not number the next part
        #: from the story as it was before.
        self._latest: Session | None = None

    @property
    def running(self) -> bool:
        return self._cancel is not None

    def write(
        self,
        session: Session,
        direction: str,
        *,
        regenerate: bool,
        part: int | None = None,
        finish: bool = False,
    ) -> bool:
        """Write the next part of `session` (or its last part again, or with `finish` the rest
        of it) from `direction`; True when the run started. When the story pane does not show
        the story's newest parts (the writer scrolled far up) they are opened first, and the
        run waits for them (shown)."""
        latest = self._latest
        if latest is not None and latest.id == session.id and latest.version > session.version:
            session = latest
        if (why := why_disabled(session)) is not None:
            self._host.notify(why, markup=False)
            return False
        story = self._story
        if (part is None and story.has_more_after) or story.shown_session_id != session.id:
            self._waiting = (direction, regenerate, part, finish)
            story.open(session.id)
            return False
        return self.start(session, direction, regenerate=regenerate, part=part, finish=finish)

    def shown(self, session: Session) -> bool:
        """The story pane now shows `session`'s newest parts: start the run that waited for
        them, if any; True when it started."""
        if self._waiting is None:
            return False
        (direction, regenerate, part, finish), self._waiting = self._waiting, None
        return self.write(session, direction, regenerate=regenerate, part=part, finish=finish)

    def start(
        self,
        session: Session,
        direction: str,
        *,
        regenerate: bool,
        part: int | None = None,
        finish: bool = False,
    ) -> bool:
        """Write the next part of `session` (or, with `regenerate`, a new take of part `part`,
        else of its last part; with `finish`, the rest of that part, which was interrupted)
        from `direction` into the story pane. False, after telling the writer, when there is
        no such part to write again or to finish."""
        replaced = None
        if regenerate or finish:
            replaced = self._story.last_part if part is None else self._story.loaded_part(part)
            if replaced is None:
                what = "finish" if finish else "write again"
                self._host.notify(f"This story has no part to {what} yet.")
                return False
            if finish and (refused := finish_refusal(replaced.seq, str(replaced.state))):
                self._host.notify(refused, markup=False)
                return False
        self._cancel = cancel = asyncio.Event()
        self._worker = self._host.run_worker(
            partial(self._generate, session, direction, replaced, cancel, finish),
            name="_generate",
            group="generate",
            exclusive=True,
            exit_on_error=False,
        )
        return True

    def stop(self) -> None:
        """Esc: stop the part being written; what was written is kept."""
        if self._cancel is not None and not self._cancel.is_set():
            self._cancel.set()
            if self._view is not None:
                self._view.stopping()

    async def stop_and_wait(self, timeout: float = 5.0) -> None:
        """Stop the part being written and wait until its text is saved (quitting)."""
        worker = self._worker
        if self._cancel is None or worker is None:
            return
        self._cancel.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.wait(), timeout)

    # -- the run ---------------------------------------------------------------------------

    async def _generate(
        self,
        session: Session,
        direction: str,
        replaced: Part | None,
        cancel: asyncio.Event,
        finish: bool = False,
    ) -> None:
        from storyterm.core.generation.events import (
            Failed,
            Finished,
            Progress,
            Saved,
            TextDelta,
            Thinking,
        )

        handlers: dict[type, Callable[[_Run, Any], Awaitable[None]]] = {
            TextDelta: self._text,
            Thinking: self._thinking,
            Saved: self._saved,
            Progress: self._progress,
            Finished: self._finished,
            Failed: self._failed,
        }
        events = self._runtime.storyteller.generate(
            self._writer(),
            session.id,
            direction or None,
            regenerate=replaced is not None and not finish,
            finish=finish,
            part=replaced.seq if replaced is not None else None,
            cancel=cancel,
        )
        # The storyteller checks the story, claims the part and asks the model (database
        # threads, Ollama) while the part it will write is mounted: mounting and laying out
        # the pane took ~100 ms of the wait for the first word when one followed the other.
        first = asyncio.ensure_future(anext(events, None))
        try:
            view = await self._begin(session, direction, replaced, finish)
        except BaseException:
            # The part could not be shown: the storyteller stops, keeping what it wrote, and
            # the pane shows what the database holds; the error goes on to the error log.
            cancel.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(_drain(first, events), 5.0)
            self._cancel = self._worker = self._view = None
            self._host.post_message(GenerationEnded(session.id, None, reopen=True))
            raise
        run = _Run(session, direction, view, replaced, finish)
        try:
            event = await first
            while event is not None:
                handler = handlers.get(type(event))
                if handler is not None:
                    await handler(run, event)
                event = await anext(events, None)
        finally:
            await self._end(run)

    async def _begin(
        self, session: Session, direction: str, replaced: Part | None, finish: bool
    ) -> PartView:
        """Mount the part about to be written (in place of the one written again, or finished:
        then with its text so far, which the reply goes on from), spinning."""
        seq = replaced.seq if replaced is not None else session.part_count + 1
        shown = direction or (replaced.direction if replaced is not None else "")
        part = provisional_part(session, seq, shown)
        if replaced is not None:  # its header says which take is being written
            part = structs.replace(part, take=replaced.takes + 1, takes=replaced.takes + 1)
            if finish:
                part = structs.replace(
                    part, content=replaced.content, word_count=replaced.word_count
                )
        view = await self._story.add_part(part)
        view.begin_stream(f"waiting for {session.model_name or 'the model'}…", text=part.content)
        self._view = view
        self._story.follow(view)
        return view

    async def _text(self, run: _Run, event: TextDelta) -> None:
        if not run.cleared:
            # The part exists in the database now: the direction lives there.
            run.cleared = self._clear_direction(run.direction)
            run.first_token_at = time.monotonic()
        run.tokens += 1
        elapsed = time.monotonic() - run.first_token_at
        run.view.set_rate(run.tokens / elapsed if elapsed > 0.5 else None)
        await run.view.write(event.text)

    async def _thinking(self, run: _Run, event: Thinking) -> None:
        run.view.thinking(event.seconds)

    async def _saved(self, run: _Run, event: Saved) -> None:
        if not run.cleared:
            run.cleared = self._clear_direction(run.direction)
        run.view.checkpointed(event.part)

    async def _progress(self, run: _Run, event: Progress) -> None:
        run.view.set_note(event.message)
        self._host.notify(event.message, timeout=5, markup=False)

    async def _finished(self, run: _Run, event: Finished) -> None:
        run.kept, run.outcome = event.part, event.session
        self._host.post_message(Health(ollama_up=True, cache=None, model_ok=True))
        part = event.part
        if event.interrupted:
            self._host.notify(
                f"Stopped. Part {part.seq} keeps the {count(part.word_count, 'word')} written "
                "so far; F goes on from there, ctrl+r writes it again.",
                markup=False,
            )
        elif event.message:  # ended by storyterm (the part limit): say why
            self._host.notify(event.message, timeout=15, markup=False)
        elif event.done_reason == "length":
            self._host.notify(
                f"Part {part.seq} filled the model's reply length and stops where it was cut; "
                "F goes on from there (a new take of the part), m sets a longer reply.",
                markup=False,
            )
        elif run.finish:
            self._host.notify(
                f"Part {part.seq} finished as take {part.take} of {part.takes}; the interrupted "
                "take is kept — < > to compare, u to undo.",
                markup=False,
            )
        elif run.replaced is not None and part.takes > 1:
            self._host.notify(
                f"Part {part.seq}: take {part.take} of {part.takes} — < > to compare.",
                markup=False,
            )

    async def _failed(self, run: _Run, event: Failed) -> None:
        error = event.error
        # Nothing claimed while writing a part again: the old part still stands.
        run.kept = event.part if event.part is not None else run.replaced
        run.reload = isinstance(error, Conflict)
        health = ollama_health(error)
        if health is not None:
            self._host.post_message(health)
        if event.part is None and event.text.strip():
            # The final save failed (a part was claimed, the text is not in it): every word
            # stays on screen (_end) and is saved again from its recovery file.
            from storyterm.tui.main.unsaved import unsaved_hint

            run.kept, run.unsaved, run.recovery = None, event.text, event.recovery
            self._host.notify(
                f"{error.message} {unsaved_hint(event.recovery)}",
                title="Not saved yet",
                severity="warning",
                timeout=30,
                markup=False,
            )
            return
        if isinstance(error, GenerationStopped):
            self._host.notify(error.message, markup=False)
            return
        hint = ""
        if isinstance(error, ModelMissing) and error.fallback:
            hint = "Press m to choose the story's model."
        self._report_error(error, hint)

    async def _end(self, run: _Run) -> None:
        """Show the part as saved (or with the text its save could not store, marked unsaved;
        or take it away when nothing was written), then hand over."""
        view, kept = run.view, run.kept
        shown_seq = view.seq  # before end_stream replaces the provisional part
        if run.unsaved is not None and view.is_attached:
            # A save that failed never takes the words away: they stay, marked unsaved.
            from storyterm.tui.main.unsaved import unsaved_part

            part = unsaved_part(view.part, run.unsaved, run.recovery)
            await view.end_stream(part)
            self._keep_unsaved(part, run.recovery)
        elif kept is not None and view.is_attached:
            await view.end_stream(kept)
        elif view.is_attached:
            await view.end_stream(None)
            await self._story.remove_part(view.seq)
        self._cancel = self._worker = self._view = None
        if run.outcome is not None:
            self._latest = run.outcome
        session_id = run.outcome.id if run.outcome is not None else view.part.session_id
        # Saved under another number: another window wrote meanwhile.
        reopen = (kept is not None and kept.seq != shown_seq) or run.reload
        self._host.post_message(GenerationEnded(session_id, run.outcome, reopen=reopen))

    def _clear_direction(self, direction: str) -> bool:
        """Empty the input, unless the writer has typed something new there meanwhile."""
        self._direction.clear_sent(direction)
        return True

    # -- ahead of the first part -----------------------------------------------------------

    def warm(self, *, freeze: bool) -> None:
        """After the first frame: open the Store (the first screen was read without it) and
        import the generation stack in a thread, so neither waits for the writer's first
        keys. With `freeze`, what that loaded is frozen like start-up's heap."""
        run_in_thread(self._host, self._warm, freeze, group="warm", name="_warm_generation")

    def _warm(self, freeze: bool) -> None:
        with contextlib.suppress(StorytermError):  # the next action that needs it will say
            self._runtime.sessions  # noqa: B018
        warm_generation_imports()
        from storyterm.tui.widgets.stream_markdown import warm_parser

        warm_parser()
        # Made now, not at the first Enter; with what LangChain loads at a first stream.
        self._runtime.storyteller.warm()
        self._host.post_message(Warmed())
        # What this loaded (SQLAlchemy, LangChain, the Ollama client) lives as long as the app:
        # frozen (StorytermApp.mark_ready), so that full collections stop walking it on every
        # later pause (opening a story, streaming).
        if freeze:
            gc.freeze()
