"""A yes/no question before anything that cannot be undone (delete, complete, discard)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; dismisses with True only on an explicit yes."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        #dialog {
            width: 64;
            height: auto;
            border: thick $primary 80%;
            background: $surface;
            padding: 1 2;
        }
        &.-danger #dialog { border: thick $error 80%; }
        #question { text-style: bold; margin-bottom: 1; }
        #detail { color: $text-muted; margin-bottom: 1; }
        #buttons { height: auto; align-horizontal: right; }
        Button { margin-left: 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self,
        question: Content | str,
        detail: Content | str = "",
        *,
        yes: str = "Yes",
        no: str = "Cancel",
        danger: bool = False,
    ) -> None:
        super().__init__(classes="-danger" if danger else "")
        # Plain str is shown literally too: a title inside a question is never markup.
        self._question = question if isinstance(question, Content) else Content(question)
        self._detail = detail if isinstance(detail, Content) else Content(detail)
        self._yes = yes
        self._no = no
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self._question, id="question")
            if self._detail:
                yield Static(self._detail, id="detail")
            with Horizontal(id="buttons"):
                yield Button(f"{self._no} (n)", id="no")
                yield Button(
                    f"{self._yes} (y)", id="yes", variant="error" if self._danger else "primary"
                )

    def on_mount(self) -> None:
        # Focus the safe answer: Enter without reading must not delete a story.
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
