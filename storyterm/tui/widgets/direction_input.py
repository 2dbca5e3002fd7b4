"""The box the writer types a direction in: several lines, Enter sends, up and down walk back
through the story's earlier directions."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from storyterm.core.basics import MAX_DIRECTION
from storyterm.tui.widgets.direction_history import DirectionHistory
from storyterm.tui.widgets.safe_text_area import SafeTextArea

#: The keys that break the line. ctrl+j is a line feed, which every terminal sends as it is;
#: shift+enter and alt+enter only reach the app where the terminal reports them apart from
#: Enter (the kitty keyboard protocol, which Textual asks for: kitty, foot, Ghostty, WezTerm
#: with it on). Elsewhere shift+enter is a plain CR, and Textual 8.2.8 reads alt+enter's
#: ESC CR as Enter too (tried in tmux): both send the direction.
NEWLINE_KEYS = "ctrl+j,shift+enter,alt+enter"
NEWLINE_KEY = "ctrl+j"
_NEWLINE_KEYS = frozenset(NEWLINE_KEYS.split(","))


class DirectionInput(SafeTextArea):
    """Where the writer says what happens next. Enter asks for the next part; ctrl+j (and
    shift+enter or alt+enter where the terminal tells them from Enter) breaks the line. Up on
    its first line and down on its last walk through the story's earlier directions.

    A TextArea (terminal-safe, SafeTextArea) that grows with its text to six lines (the bar's
    CSS) and then scrolls. What it holds never passes MAX_DIRECTION (SafeTextArea cuts an edit
    to fit and says so). Its own undo keys are left to the screen's (u / ctrl+z undo the last
    change to the story, in the input as outside it, as they did when it was one line)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Write next part", key_display="⏎"),
        Binding(NEWLINE_KEYS, "newline", "New line", key_display="^j"),
        Binding("escape", "stop", "Stop writing", tooltip="Stop the generation, keeping its text"),
        Binding(
            "escape", "leave", "Commands", tooltip="Leave the input for the single-key commands"
        ),
    ]

    #: A generation is running (set by the bar): Esc stops it instead of leaving.
    generating: reactive[bool] = reactive(False, bindings=True)

    class Submitted(Message):
        """Enter: the direction as it is in the box."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Leave(Message):
        """Esc with no generation running: give the keyboard back to the commands."""

    class Stop(Message):
        """Esc while a part is being written: stop it."""

    TOO_LONG = (
        "A direction holds up to {limit:,} characters; {cut:,} of what you typed or pasted did "
        "not fit. Put lasting facts in the story bible (b) instead."
    )

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("compact", True)
        super().__init__(
            "",
            max_length=MAX_DIRECTION,
            show_line_numbers=False,
            highlight_cursor_line=False,
            tab_behavior="focus",
            **kwargs,
        )
        #: The open story's earlier directions (the bar says which story is open).
        self.earlier = DirectionHistory()

    # -- keys ------------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        # Enter and the newline keys act here, in the order the keys came, not through their
        # bindings (which list them in the key bar): a binding acts once the key has bubbled
        # up to the app, after the keys typed behind it have reached the box (tried in tmux:
        # "Mara", ctrl+j, "reads it" sent at once gave "Marareads it\n"; Enter would send
        # the words typed after it). prevent_default keeps TextArea's own handler (Textual
        # calls each class's in turn) from breaking the line on Enter as well.
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.action_submit()
        elif event.key in _NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.generating
        if action == "leave":
            return not self.generating
        if action in ("undo", "redo"):
            return False  # ctrl+z / ctrl+y go on to the screen's undo and redo
        return super().check_action(action, parameters)

    def action_submit(self) -> None:
        self.post_message(self.Submitted(self.text))

    def action_newline(self) -> None:
        self.replace("\n", *self.selection, maintain_selection_offset=False)

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def action_stop(self) -> None:
        self.post_message(self.Stop())

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.navigator.is_first_wrapped_line(self.cursor_location):
            entry = self.earlier.back(self.text)
            if entry is not None:
                self._show(entry)
                if not self.navigator.is_first_wrapped_line(self.cursor_location):
                    # A longer entry: on its first line, so that up goes on walking back.
                    self.move_cursor((0, 0))
                return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self.navigator.is_last_wrapped_line(self.cursor_location):
            entry = self.earlier.forward(self.text)
            if entry is not None:
                self._show(entry)
                return
        super().action_cursor_down(select)

    def _show(self, text: str) -> None:
        """`text` in the box, the cursor after it (an edit: the meter follows it)."""
        self.replace(text, (0, 0), self.document.end, maintain_selection_offset=False)
        self.move_cursor(self.document.end)

    # -- what it holds ---------------------------------------------------------------------

    def story_opened(self, session_id: str | None) -> None:
        """Another story is open (or none): its history from now on. A walk through the last
        one's gives back the draft it kept, unless the entry shown was changed."""
        if session_id == self.earlier.session_id:
            return
        draft = self.earlier.leave(self.text)
        if draft is not None:
            self._show(draft)
        self.earlier.open(session_id)

    def sent(self, direction: str) -> None:
        """`direction` was sent: the newest entry of the history, and the walk is over."""
        self.earlier.sent(direction)

    def empty(self) -> None:
        """Nothing in the box any more (its direction is in a part now)."""
        self.earlier.stop()
        self.load_text("")
