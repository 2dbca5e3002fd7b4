"""The export dialog (ctrl+e): which formats, into which folder, for this one export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from storyterm.settings import EXPORT_FORMATS
from storyterm.tui.screens.form import clear_stale_notices
from storyterm.tui.text import one_line
from storyterm.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from collections.abc import Sequence

    from storyterm.tui.host import HostApp

#: What each format writes, as the dialog lists it.
FORMAT_LABELS = {
    "md": "md    story.md, and one Markdown file per part",
    "txt": "txt   story.txt, plain text",
    "json": "json  story.json (storyterm import reads it back)",
    "epub": "epub  story.epub, for e-readers",
}


@dataclass(frozen=True)
class ExportChoice:
    """What the writer chose in the dialog: the formats (in the order files are listed) and
    the export folder (each story goes into a folder of its own inside it)."""

    formats: tuple[str, ...]
    folder: Path


class ExportScreen(ModalScreen["ExportChoice | None"]):
    """Asks for the formats and the folder of one export; dismisses with the choice once the
    folder is known to take it (nothing is written here), or None when cancelled."""

    DEFAULT_CSS = """
    ExportScreen .form { width: 76; }
    ExportScreen #formats { height: auto; width: 1fr; }
    ExportScreen Checkbox { width: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    class Checked(Message):
        """The folder check (in a worker) is done: `problem` is why it cannot take the export,
        None when it can."""

        def __init__(self, choice: ExportChoice, problem: str | None) -> None:
            super().__init__()
            self.choice = choice
            self.problem = problem

    app: HostApp

    def __init__(self, title: str, formats: Sequence[str], folder: Path) -> None:
        super().__init__(classes="form-screen")
        self._title = title
        self._formats = tuple(formats)
        self._folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="form"):
            with Vertical(classes="fields"):
                with Horizontal(classes="field-row"):
                    yield Label("Formats", classes="required")
                    with Vertical(id="formats"):
                        for name in EXPORT_FORMATS:
                            yield Checkbox(
                                FORMAT_LABELS[name],
                                name in self._formats,
                                id=f"format-{name}",
                                compact=True,
                            )
                with Horizontal(classes="field-row"):
                    yield Label("Folder", classes="required")
                    yield SafeInput(str(self._folder), id="folder", compact=True)
                yield Static(
                    Content("The story goes into a folder of its own inside this one."),
                    classes="note -info",
                )
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        clear_stale_notices(self.app)
        form = self.query_one("#form")
        form.border_title = Content(f"Export “{one_line(self._title)}”")
        self.query_one(f"#format-{EXPORT_FORMATS[0]}", Checkbox).focus()

    def chosen_formats(self) -> tuple[str, ...]:
        return tuple(
            name for name in EXPORT_FORMATS if self.query_one(f"#format-{name}", Checkbox).value
        )

    @on(Button.Pressed, "#export")
    @on(Input.Submitted, "#folder")
    def action_export(self) -> None:
        formats = self.chosen_formats()
        folder = self.query_one("#folder", Input).value.strip()
        if not formats:
            self._show_error("Tick at least one format to export.")
            self.query_one(f"#format-{EXPORT_FORMATS[0]}", Checkbox).focus()
            return
        if not folder:
            self._show_error("Type the folder to export to (~ means your home folder).")
            self.query_one("#folder", Input).focus()
            return
        self.query_one("#export", Button).disabled = True
        self._check(ExportChoice(formats, Path(folder).expanduser()))

    @work(thread=True, exclusive=True, group="export-folder", exit_on_error=False)
    def _check(self, choice: ExportChoice) -> None:
        """Look at the folder on disk (off the event loop): a file in the way, or a folder
        storyterm may not write to, is said here, and nothing is exported."""
        from storyterm.core.export.folder import folder_problem

        self.post_message(self.Checked(choice, folder_problem(choice.folder)))

    @on(Checked)
    def _checked(self, event: Checked) -> None:
        if event.problem is None:
            self.dismiss(event.choice)
            return
        self.query_one("#export", Button).disabled = False
        self._show_error(event.problem)
        self.query_one("#folder", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _show_error(self, text: str) -> None:
        error = self.query_one("#error", Static)
        error.update(Content(text))
        error.add_class("-shown")
