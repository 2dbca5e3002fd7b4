"""The direction input under the story ("What happens next?"), why it is off when it is, and
the story's earlier directions it offers (read for it in a worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea
from textual.worker import Worker, WorkerState

from storyterm.core.basics import MAX_DIRECTION
from storyterm.errors import StorytermError
from storyterm.tui.messages import Crashed
from storyterm.tui.text import one_line, show_note
from storyterm.tui.widgets.direction_history import HISTORY_SIZE
from storyterm.tui.widgets.direction_input import NEWLINE_KEY, DirectionInput

if TYPE_CHECKING:
    from storyterm.core.views import Session

__all__ = ["ELSEWHERE", "PLACEHOLDER", "DirectionBar", "DirectionInput", "why_disabled"]

#: One line at 80 columns shows up to "earlier": the keys first (the title says what to type).
PLACEHOLDER = f"Enter writes · {NEWLINE_KEY} new line · ↑↓ earlier directions · Esc leaves"
#: Enter while another window writes a part of the open story (the core would refuse it).
ELSEWHERE = (
    "A part is being written in another window — wait for it to finish; your direction stays "
    "in the input."
)


def why_disabled(session: Session | None) -> str | None:
    """The line shown instead of a usable input, or None when the writer can write."""
    if session is None:
        return "No story is open. Press n to start one, or pick one on the left."
    title = f"“{one_line(session.title)}”"
    status = str(session.status)
    if status == "paused":
        return f"{title} is paused. Press r to resume it and carry on writing."
    if status == "completed":
        return (
            f"{title} is completed and read-only. Press e to export it, C to reopen it, or n to "
            "start a new story."
        )
    return None


class DirectionReads(Protocol):
    """Where the bar reads a story's earlier directions. Called in a worker thread."""

    def directions(self, session_id: str, limit: int) -> list[str]: ...


class DirectionBar(Vertical):
    """The input with its title, or a line saying why it is disabled and how to change that.
    Enter asks for the next part (Write), unless one is being written. Up and down in the
    input offer the open story's earlier directions, read (once the app has warmed up, so
    never before the first frame) each time another story opens."""

    DEFAULT_CSS = """
    DirectionBar {
        height: auto;
        border: round $border-blurred;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        /* The pane with the keyboard stands out: heavy border, title lit. */
        &:focus-within {
            border: heavy $border; border-title-color: $text-accent;
            border-title-style: bold;
        }
        DirectionInput, DirectionInput.-textual-compact {
            width: 1fr; height: auto; max-height: 6; padding: 0 1; background: transparent;
            scrollbar-size-vertical: 1;
        }
        DirectionInput:disabled { display: none; }
        #why { color: $text-warning; padding: 0 1; display: none; }
        &.-disabled #why { display: block; }
    }
    """

    class Write(Message):
        """Enter in the input: write the next part from this direction (empty: carry on)."""

        def __init__(self, direction: str) -> None:
            super().__init__()
            self.direction = direction

    class HistoryRead(Message):
        """A story's earlier directions, newest first (read in a worker)."""

        def __init__(self, session_id: str, directions: list[str]) -> None:
            super().__init__()
            self.session_id = session_id
            self.directions = directions

    session: reactive[Session | None] = reactive(None, init=False)
    #: A generation is running: Enter waits; Esc stops it.
    generating: reactive[bool] = reactive(False, init=False)
    #: Another window is writing a part of the open story (tui/main/live_story.py): Enter
    #: waits for it; Esc here cannot stop it.
    elsewhere: reactive[bool] = reactive(False, init=False)

    def __init__(
        self,
        reads: DirectionReads | None = None,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        # Composed with no session: disabled from the start, so that mounting it does not
        # restyle it (and its input) a second time.
        super().__init__(id=id, classes=f"{classes or ''} -disabled".strip())
        self._reads = reads
        #: The app has warmed up: histories can be read (start() says so).
        self._started = False
        #: The open story, once its history has been asked for.
        self.history_of: str | None = None

    def compose(self) -> ComposeResult:
        yield DirectionInput(placeholder=PLACEHOLDER, id="direction", disabled=True)
        yield Static(Content(why_disabled(None) or ""), id="why")

    def on_mount(self) -> None:
        self.border_title = "What happens next?"
        self._apply()

    @property
    def input(self) -> DirectionInput:
        return self.query_one(DirectionInput)

    @property
    def text(self) -> str:
        """What the input holds."""
        return self.input.text

    def focus_input(self, *, explain: bool = False) -> bool:
        """Give the input the keyboard if the open story can be written to; True if it was
        given. With `explain`, tell the writer why not."""
        why = why_disabled(self.session)
        if why is None:
            self.input.focus()
            return True
        if explain:
            self.notify(why, markup=False)
        return False

    def clear_sent(self, direction: str) -> None:
        """The part asked for from `direction` exists now: empty the input, unless the writer
        has typed something new there meanwhile."""
        if self.input.text.strip() == direction:
            self.input.empty()

    def sent(self, direction: str) -> None:
        """`direction` went to the model (Enter, or ctrl+r with it): the newest of the
        story's earlier directions."""
        self.input.sent(direction)

    def heard(self, session_id: str, direction: str) -> None:
        """Another window asked for a part of story `session_id` from `direction`: if it is
        the open story, the newest of its earlier directions here too."""
        if self.session is not None and self.session.id == session_id:
            self.input.earlier.heard(direction)

    @on(DirectionInput.Submitted)
    def _submitted(self, event: DirectionInput.Submitted) -> None:
        event.stop()
        if self.generating:
            self.notify(
                "A part is being written. Wait for it, or press Esc to stop it; your new "
                "direction stays in the input.",
                markup=False,
            )
        elif self.elsewhere:
            self.notify(ELSEWHERE, markup=False)
        else:
            direction = event.text.strip()
            self.sent(direction)
            self.post_message(self.Write(direction))

    @on(TextArea.Changed, "#direction")
    def _changed(self, event: TextArea.Changed) -> None:
        # Near the limit, how near (the input cuts what would pass it, and says so).
        size = len(self.input.text)
        self.border_subtitle = (
            f"{size:,}/{MAX_DIRECTION:,}" if size >= MAX_DIRECTION * 9 // 10 else ""
        )

    # -- the open story's earlier directions ------------------------------------------------

    def start(self) -> None:
        """The app has warmed up (the Store is open): read the open story's history."""
        self._started = True
        self._read_history()

    def _read_history(self) -> None:
        session_id = self.session.id if self.session is not None else None
        if not self._started or self._reads is None or session_id in (None, self.history_of):
            return
        self.history_of = session_id
        self.run_worker(
            lambda: self._read(session_id),
            name="_read_directions",
            group="directions",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _read(self, session_id: str) -> None:
        assert self._reads is not None
        try:
            directions = self._reads.directions(session_id, HISTORY_SIZE)
        except StorytermError:
            # Only the history is missing: the story pane says what failed with its reads.
            directions = []
        self.post_message(self.HistoryRead(session_id, directions))

    @on(HistoryRead)
    def _history_read(self, event: HistoryRead) -> None:
        event.stop()
        self.input.earlier.read(event.session_id, event.directions)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))

    # -- the state shown ---------------------------------------------------------------------

    def watch_session(self) -> None:
        self._apply()
        session_id = self.session.id if self.session is not None else None
        if session_id != self.history_of:
            self.history_of = None  # asked for again once it is another story
        if self.is_mounted:
            self.input.story_opened(session_id)
            self._read_history()

    def watch_generating(self) -> None:
        self._apply()

    def watch_elsewhere(self) -> None:
        self._apply()

    def _apply(self) -> None:
        if not self.is_mounted:
            return
        why = why_disabled(self.session)
        self.set_class(why is not None, "-disabled")
        show_note(self.query_one("#why", Static), why or "")
        self.input.disabled = why is not None
        self.input.generating = self.generating
        if self.generating:
            self.border_title = "What happens next? · writing… (Esc stops)"
        elif self.elsewhere:
            self.border_title = "What happens next? · a part is being written in another window"
        else:
            self.border_title = "What happens next?"
