"""What the model saw for the last part: the exact messages sent, role by role."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from storyterm.tui.text import count, safe

ROLE_NAMES = {
    "system": "System (instructions, story bible and summary)",
    "human": "Writer",
    "user": "Writer",
    "ai": "Model",
    "assistant": "Model",
    "thinking": "The model's thinking before it wrote (not in the story)",
}


class ContextScreen(ModalScreen[None]):
    """Shows a list of (role, content) messages as plain text; Esc closes."""

    DEFAULT_CSS = """
    ContextScreen {
        align: center middle;
        #panel {
            width: 110;
            max-width: 95%;
            height: 95%;
            border: thick $primary 80%;
            background: $surface;
        }
        #messages { padding: 0 1; }
        .role { text-style: bold; color: $text-primary; margin-top: 1; }
        .message { padding: 0 0 0 2; }
        #note { color: $text-muted; padding: 1 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,v,q", "close", "Close"),
    ]

    def __init__(self, title: str, messages: list[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self._title = title
        self._messages = messages
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            if self._note:
                yield Static(Content(self._note), id="note")
            with VerticalScroll(id="messages"):
                for role, text in self._messages:
                    name = ROLE_NAMES.get(role, role)
                    yield Static(
                        Content(f"{name} · {count(len(text.split()), 'word')}"), classes="role"
                    )
                    yield Static(Content(safe(text)), classes="message")

    def on_mount(self) -> None:
        panel = self.query_one("#panel")
        panel.border_title = Content.assemble("What the model saw · ", Content(safe(self._title)))
        panel.border_subtitle = "esc closes"
        self.query_one("#messages").focus()

    def action_close(self) -> None:
        self.dismiss(None)
