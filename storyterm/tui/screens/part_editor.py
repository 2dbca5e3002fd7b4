"""Rewrite one part by hand: its direction and its text, in a full-screen editor."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static, TextArea

from storyterm.core.basics import MAX_DIRECTION
from storyterm.errors import StorytermError
from storyterm.tui.screens.form import FormBehaviour, SaveFailed
from storyterm.tui.text import one_line, safe
from storyterm.tui.widgets.safe_text_area import SafeTextArea

if TYPE_CHECKING:
    from storyterm.core.views import Part
    from storyterm.tui.host import HostApp


class PartEditorScreen(FormBehaviour, Screen["Part | None"]):
    """Edits part `seq` of a session; dismisses with the saved part, or None."""

    DEFAULT_CSS = """
    PartEditorScreen {
        #editor { padding: 0 1; }
        #heading { text-style: bold; color: $text-primary; padding: 1 1 0 1; }
        Label { color: $text-muted; margin: 1 0 0 1; }
        /* A direction may hold several lines: it grows to six, then scrolls. */
        #direction { height: auto; max-height: 6; }
        #content { height: 1fr; }
        #error { color: $text-error; padding: 0 1; display: none; }
        #error.-shown { display: block; }
        #buttons { height: auto; align-horizontal: right; padding: 1 1 0 1; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Close"),
    ]

    class Saved(Message):
        def __init__(self, part: Part) -> None:
            super().__init__()
            self.part = part

    app: HostApp

    def __init__(self, part: Part, story_title: str) -> None:
        super().__init__()
        self.part = part
        self.story_title = story_title
        self.discard_question = f"Discard your changes to part {part.seq}?"
        #: The direction and text as the fields show them (terminal-safe), to tell an edit
        #: from an untouched part.
        self.shown = (safe(part.direction), safe(part.content))

    def compose(self) -> ComposeResult:
        with Vertical(id="editor"):
            yield Static(
                Content(f"Editing part {self.part.seq} of “{one_line(self.story_title)}”"),
                id="heading",
            )
            yield Label("Direction (what you asked for)")
            yield SafeTextArea(
                self.shown[0], id="direction", max_length=MAX_DIRECTION, soft_wrap=True
            )
            yield Label("Text")
            # Control characters show as symbols (␛); saving an edit keeps them as symbols.
            yield SafeTextArea(self.shown[1], id="content", soft_wrap=True)
            yield Static(id="error")
            with Horizontal(id="buttons"):
                yield Button("Close (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#content", TextArea).focus()

    def _values(self) -> tuple[str, str]:
        direction = self.query_one("#direction", TextArea)
        return direction.text, self.query_one("#content", TextArea).text

    @property
    def changed(self) -> bool:
        return self._values() != self.shown

    def action_save(self) -> None:
        if not self.changed:
            self.dismiss(None)
            return
        self.query_one("#save", Button).disabled = True
        direction, content = self._values()
        self.save(direction, content)

    @work(thread=True, exclusive=True, group="save-part", exit_on_error=False)
    def save(self, direction: str, content: str) -> None:
        try:
            part = self.app.runtime.sessions.edit_part(
                self.app.writer_id,
                self.part.session_id,
                self.part.seq,
                content=content if content != self.shown[1] else None,
                direction=direction if direction != self.shown[0] else None,
            )
        except StorytermError as exc:
            self.post_message(SaveFailed(exc))
        else:
            self.post_message(self.Saved(part))

    @on(Saved)
    def _saved(self, event: Saved) -> None:
        self.dismiss(event.part)
