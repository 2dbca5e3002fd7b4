"""The model a story is written with, picked from what Ollama has installed, and the story's
sampling options (temperature, reply length, ...) beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from storyterm.core.sampling import Number, Sampling
from storyterm.tui.models import ModelChoice
from storyterm.tui.screens.form import clear_stale_notices
from storyterm.tui.text import one_line
from storyterm.tui.widgets.sampling_form import SamplingForm

if TYPE_CHECKING:
    from storyterm.tui.host import HostApp


@dataclass
class ModelPick:
    """What the writer chose: another model (None: keep the story's) and changes to the
    story's sampling options (option -> value, None: the default again)."""

    model: str | None = None
    options: dict[str, Number | str | None] = field(default_factory=dict)


class ModelScreen(ModalScreen["ModelPick | None"]):
    """A list of installed models and the story's sampling options. Enter on a model picks it
    (with the options as edited); ctrl+s or Enter in an option saves the options alone; Esc
    closes and changes nothing."""

    DEFAULT_CSS = """
    ModelScreen {
        align: center middle;
        #panel {
            width: 72;
            max-width: 95%;
            height: auto;
            max-height: 100%;
            border: thick $primary 80%;
            background: $surface;
            padding: 0 1;
        }
        OptionList { height: auto; max-height: 8; border: none; background: transparent; }
        #note { color: $text-warning; padding: 0 1 1 1; }
        SamplingForm { border-top: solid $primary 50%; padding-top: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close, changing nothing"),
        Binding("ctrl+s", "save", "Save the options", priority=True),
    ]

    app: HostApp

    def __init__(
        self,
        title: str,
        current: str | None,
        own: Sampling | None = None,
        defaults: Sampling | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._current = current
        self._own = own or Sampling()
        self._defaults = defaults or Sampling()

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield OptionList(Option(Content("Asking Ollama…"), disabled=True), id="models")
            yield Static(id="note")
            yield SamplingForm(self._own, self._defaults)

    def on_mount(self) -> None:
        clear_stale_notices(self.app)
        panel = self.query_one("#panel")
        panel.border_title = Content(f"Model for “{one_line(self._title)}”")
        panel.border_subtitle = "enter picks · ctrl+s saves options · esc cancels"
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
        picked = event.option.id if event.option.id != self._current else None
        self._finish(picked)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish(None)

    def action_save(self) -> None:
        self._finish(None)

    def _finish(self, model: str | None) -> None:
        """Close with the choice, unless an option holds a value that would be refused: then
        say why there, with the cursor on it, and stay."""
        form = self.query_one(SamplingForm)
        changes = form.changes
        if changes is None:
            form.show_problem()
            for widget in form.query(Input):
                if not widget.is_valid:
                    widget.focus()
                    break
            return
        self.dismiss(ModelPick(model, changes) if model or changes else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
