"""The new-session form: title, the story bible, and the model picked from the live list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from storyterm.core.basics import MAX_TITLE, BibleField
from storyterm.errors import StorytermError
from storyterm.tui.models import ModelChoice
from storyterm.tui.screens.form import FormBehaviour, SaveFailed
from storyterm.tui.widgets.safe_input import SafeInput
from storyterm.tui.widgets.safe_text_area import SafeTextArea

if TYPE_CHECKING:
    from storyterm.core.views import Session
    from storyterm.tui.host import HostApp

#: How the form shows each story-bible field: (multi-line?, placeholder).
_FORM: dict[BibleField, tuple[bool, str]] = {
    BibleField.GENRE: (False, "mystery, fantasy, literary…"),
    BibleField.TONE: (False, "quiet and eerie, warm, fast…"),
    BibleField.PREMISE: (True, "What the story is about, in a few lines."),
    BibleField.CHARACTERS: (True, "Who is in it: one per line, with a few words each."),
    BibleField.STYLE_NOTES: (True, "Point of view, tense, things to avoid…"),
}
#: (field, label, multi-line?, placeholder), in the bible's order.
FIELDS: list[tuple[str, str, bool, str]] = [
    (field.value, field.label, *_FORM[field]) for field in BibleField
]


def title_problem(title: str) -> str | None:
    """Why `title` is too long to be a story's title (counted as the core counts it, spaces
    around it left out), or None."""
    length = len(title.strip())
    if length <= MAX_TITLE:
        return None
    return (
        f"Titles are at most {MAX_TITLE} characters (this one is {length:,}). Shorten it to "
        "create the story."
    )


def show_title_problem(note: Static, title: str) -> None:
    """Fill the note under a title field with why `title` is too long, or hide it."""
    problem = title_problem(title)
    note.display = problem is not None
    note.update(Content(problem or ""))


class NewSessionScreen(FormBehaviour, ModalScreen["Session | None"]):
    """Creates a session in a worker; dismisses with it, or None when cancelled."""

    AUTO_FOCUS = "#title"

    def __init__(self) -> None:
        super().__init__(classes="form-screen")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "create", "Create", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    class Created(Message):
        """Posted from the worker when the database has the new session."""

        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

    save_button = "create"
    save_action = "create"
    discard_question = "Discard this new story?"
    discard_detail = "What you typed in the form will be lost."

    app: HostApp

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="form"):
            with VerticalScroll(classes="fields"):
                with Horizontal(classes="field-row"):
                    yield Label("Title", classes="required")
                    # No max_length: the Input would cut a long paste without a word. The
                    # note under the field says how long it is, and Create refuses it.
                    yield SafeInput(
                        placeholder="What is the story called?", id="title", compact=True
                    )
                yield Static(id="title-note", classes="note")
                for key, label, multi, placeholder in FIELDS:
                    with Horizontal(classes="field-row"):
                        yield Label(label)
                        if multi:
                            yield SafeTextArea(
                                id=key,
                                soft_wrap=True,
                                show_line_numbers=False,
                                placeholder=placeholder,
                            )
                        else:
                            yield SafeInput(placeholder=placeholder, id=key, compact=True)
                with Horizontal(classes="field-row"):
                    yield Label("Model")
                    yield Select[str](
                        [], id="model", prompt="Asking Ollama…", allow_blank=True, compact=True
                    )
                yield Static(id="model-note", classes="note")
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Create (ctrl+s)", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#form").border_title = "New story"
        self.query_one("#title", Input).focus()
        self.query_one("#model-note").display = False
        self.query_one("#title-note").display = False
        self.load_models()

    @on(Input.Changed, "#title")
    def _title_changed(self, event: Input.Changed) -> None:
        show_title_problem(self.query_one("#title-note", Static), event.value)

    @work(exclusive=True, group="models", exit_on_error=False)
    async def load_models(self) -> None:
        choice = await self.app.model_choice()
        self._show_models(choice)

    def _show_models(self, choice: ModelChoice) -> None:
        select = self.query_one("#model", Select)
        select.set_options(
            (
                Content.assemble(
                    Content(name),
                    Content.styled(f"  {choice.details[name]}", "$text-muted")
                    if choice.details.get(name)
                    else Content(""),
                ),
                name,
            )
            for name in choice.names
        )
        if choice.default is not None:
            select.value = choice.default
        select.prompt = "No model"
        note = self.query_one("#model-note", Static)
        note.display = bool(choice.problem)
        note.update(Content(choice.problem or ""))

    def _values(self) -> tuple[str, dict[str, Any], str | None]:
        title = self.query_one("#title", Input).value
        metadata: dict[str, Any] = {}
        for key, _label, multi, _ in FIELDS:
            widget = self.query_one(f"#{key}")
            value = widget.text if multi else widget.value
            if value.strip():
                metadata[key] = value.strip()
        model = self.query_one("#model", Select).value
        return title, metadata, model if isinstance(model, str) else None

    def action_create(self) -> None:
        title, metadata, model = self._values()
        if not title.strip():
            self.show_error("A story needs a title: type a few words to name it.")
            self.query_one("#title", Input).focus()
            return
        if (problem := title_problem(title)) is not None:
            self.show_error(problem)
            self.query_one("#title", Input).focus()
            return
        self.query_one("#create", Button).disabled = True
        self.create(title, metadata, model)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def create(self, title: str, metadata: dict[str, Any], model: str | None) -> None:
        try:
            session = self.app.runtime.sessions.start(self.app.writer_id, title, metadata, model)
        except StorytermError as exc:
            self.post_message(SaveFailed(exc))
        else:
            self.post_message(self.Created(session))

    @on(Created)
    def _created(self, event: Created) -> None:
        self.dismiss(event.session)

    @property
    def changed(self) -> bool:
        title, metadata, _model = self._values()
        return bool(title.strip() or metadata)
