"""The direction input under the story ("What happens next?") and why it is off, when it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from storyterm.core.basics import MAX_DIRECTION
from storyterm.tui.text import one_line
from storyterm.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from storyterm.core.views import Session

PLACEHOLDER = "Type a direction and press Enter · Esc leaves the input"
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


class DirectionInput(SafeInput):
    """Where the writer says what happens next. Enter asks for the next part."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Write next part", key_display="⏎"),
        Binding("escape", "stop", "Stop writing", tooltip="Stop the generation, keeping its text"),
        Binding(
            "escape", "leave", "Commands", tooltip="Leave the input for the single-key commands"
        ),
    ]

    #: A generation is running (set by the bar): Esc stops it instead of leaving.
    generating: reactive[bool] = reactive(False, bindings=True)

    class Leave(Message):
        """Esc with no generation running: give the keyboard back to the commands."""

    class Stop(Message):
        """Esc while a part is being written: stop it."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating
        if action == "leave":
            return not self.generating
        return super().check_action(action, parameters)

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def action_stop(self) -> None:
        self.post_message(self.Stop())


class DirectionBar(Vertical):
    """The input with its title, or a line saying why it is disabled and how to change that.
    Enter asks for the next part (Write), unless one is being written."""

    DEFAULT_CSS = """
    DirectionBar {
        height: auto;
        border: round $border-blurred;
        border-title-color: $text-muted;
        /* The pane with the keyboard stands out: heavy border, title lit. */
        &:focus-within {
            border: heavy $border; border-title-color: $text-accent;
            border-title-style: bold;
        }
        DirectionInput, DirectionInput.-textual-compact {
            width: 1fr; padding: 0 1; background: transparent;
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

    session: reactive[Session | None] = reactive(None, init=False)
    #: A generation is running: Enter waits; Esc stops it.
    generating: reactive[bool] = reactive(False, init=False)
    #: Another window is writing a part of the open story (tui/main/live_story.py): Enter
    #: waits for it; Esc here cannot stop it.
    elsewhere: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # Composed with no session: disabled from the start, so that mounting it does not
        # restyle it (and its input) a second time.
        super().__init__(id=id, classes=f"{classes or ''} -disabled".strip())

    def compose(self) -> ComposeResult:
        yield DirectionInput(
            placeholder=PLACEHOLDER,
            id="direction",
            max_length=MAX_DIRECTION,
            compact=True,
            disabled=True,
        )
        yield Static(Content(why_disabled(None) or ""), id="why")

    def on_mount(self) -> None:
        self.border_title = "What happens next?"
        self._apply()

    @property
    def input(self) -> DirectionInput:
        return self.query_one(DirectionInput)

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

    @on(Input.Submitted, "#direction")
    def _submitted(self, event: Input.Submitted) -> None:
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
            self.post_message(self.Write(event.value.strip()))

    def watch_session(self) -> None:
        self._apply()

    def watch_generating(self) -> None:
        self._apply()

    def watch_elsewhere(self) -> None:
        self._apply()

    def _apply(self) -> None:
        if not self.is_mounted:
            return
        why = why_disabled(self.session)
        self.set_class(why is not None, "-disabled")
        self.query_one("#why", Static).update(Content(why or ""))
        self.input.disabled = why is not None
        self.input.generating = self.generating
        if self.generating:
            self.border_title = "What happens next? · writing… (Esc stops)"
        elif self.elsewhere:
            self.border_title = "What happens next? · a part is being written in another window"
        else:
            self.border_title = "What happens next?"
