"""Pick the model a story is written with, from what Ollama has installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from storyterm.tui.models import ModelChoice
from storyterm.tui.text import one_line

if TYPE_CHECKING:
    from storyterm.tui.host import HostApp


class ModelScreen(ModalScreen["str | None"]):
    """A list of installed models; Enter picks one, Esc keeps the story's model."""

    DEFAULT_CSS = """
    ModelScreen {
        align: center middle;
        #panel {
            width: 72;
            max-width: 95%;
            height: auto;
            max-height: 80%;
            border: thick $primary 80%;
            background: $surface;
            padding: 1 1;
        }
        OptionList { height: auto; max-height: 20; border: none; background: transparent; }
        #note { color: $text-warning; padding: 1 1 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Keep the current model"),
    ]

    app: HostApp

    def __init__(self, title: str, current: str | None) -> None:
        super().__init__()
        self._title = title
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield OptionList(Option(Content("Asking Ollama…"), disabled=True), id="models")
            yield Static(id="note")

    def on_mount(self) -> None:
        panel = self.query_one("#panel")
        panel.border_title = Content(f"Model for “{one_line(self._title)}”")
        panel.border_subtitle = "enter picks · esc keeps"
        self.query_one("#note").display = False
        self.query_one(OptionList).focus()
        self._load()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def _load(self) -> None:
        self._show(await self.app.model_choice(self._current))

    def _show(self, choice: ModelChoice) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for name in choice.names:
            mark = "● " if name == self._current else "  "
            detail = choice.details.get(name, "")
            prompt = Content.assemble(
                Content(mark + name), Content.styled(f"  {detail}" if detail else "", "$text-muted")
            )
            options.add_option(Option(prompt, id=name))
        if self._current in choice.names:
            options.highlighted = choice.names.index(self._current)
        elif choice.names:
            options.highlighted = 0
        note = self.query_one("#note", Static)
        note.display = bool(choice.problem)
        note.update(Content(choice.problem or ""))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            note = self.query_one("#note", Static)
            note.update(Content(self.app.report_unexpected(event.worker.error, "the model list")))
            note.display = True

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
