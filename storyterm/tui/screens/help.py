"""Every key the main screen knows, grouped, with what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

#: (section, [(keys, what it does)])
HelpSections = list[tuple[str, list[tuple[str, str]]]]


class HelpScreen(ModalScreen[None]):
    """The key reference; ?, q or Esc closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #panel {
            width: 80;
            max-width: 95%;
            height: 95%;
            border: thick $primary 80%;
            background: $surface;
        }
        #keys { height: 1fr; padding: 0 2; }
        .section { text-style: bold; color: $text-primary; margin-top: 1; }
        .keys {
            layout: grid;
            grid-size: 2;
            grid-columns: auto 1fr;
            grid-gutter: 0 2;
            height: auto;
        }
        .key { text-style: bold; color: $text-accent; }
        #tip { color: $text-muted; padding: 1 2 0 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close"),
    ]

    def __init__(self, sections: HelpSections) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        width = max((len(keys) for _, rows in self._sections for keys, _ in rows), default=8)
        with Vertical(id="panel"):
            with VerticalScroll(id="keys"):
                for section, rows in self._sections:
                    yield Static(Content(section), classes="section")
                    with Grid(classes="keys"):
                        for keys, what in rows:
                            # Every key column as wide as the widest: the sections line up.
                            yield Static(Content(keys.ljust(width)), classes="key")
                            yield Static(Content(what), classes="what")
            yield Static(
                Content(
                    "Every command is also in the command palette (ctrl+p). "
                    "Single-letter keys work when the direction input is not focused: "
                    "Esc leaves it, Enter on a story goes back to it."
                ),
                id="tip",
            )

    def on_mount(self) -> None:
        panel = self.query_one("#panel")
        panel.border_title = "Keys"
        panel.border_subtitle = "↑ ↓ scroll · esc closes"
        self.query_one("#keys").focus()

    def action_close(self) -> None:
        self.dismiss(None)
