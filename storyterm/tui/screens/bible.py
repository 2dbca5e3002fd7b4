"""The story bible (title, genre, tone, premise, characters, style notes), the writer's
steering (the author's note with its depth, the story's instructions to the model) and the
rolling summary the model is given instead of the oldest parts: read, edit, save."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from storyterm.core.basics import MAX_NOTE_DEPTH
from storyterm.core.memory.state import (
    INSTRUCTIONS,
    NOTE,
    NOTE_DEPTH,
    STALE,
    SUMMARY,
    SUMMARY_THROUGH,
)
from storyterm.core.memory.steering import DEFAULT_INSTRUCTIONS, Steering, clean_steering
from storyterm.errors import StorytermError
from storyterm.tui.screens.form import FormBehaviour, SaveFailed
from storyterm.tui.screens.new_session import FIELDS, show_title_problem, title_problem
from storyterm.tui.text import safe
from storyterm.tui.widgets.safe_input import SafeInput
from storyterm.tui.widgets.safe_text_area import SafeTextArea

if TYPE_CHECKING:
    from storyterm.core.views import Session
    from storyterm.tui.host import HostApp


class BibleScreen(FormBehaviour, ModalScreen["Session | None"]):
    """Edits one session's bible and summary; dismisses with the saved session or None."""

    DEFAULT_CSS = """
    BibleScreen #summary { height: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Close"),
    ]

    class Saved(Message):
        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

    discard_question = "Discard your changes to the story bible?"

    app: HostApp

    def __init__(self, session: Session) -> None:
        super().__init__(classes="form-screen")
        self.session = session
        self.read_only = str(session.status) == "completed"

    def _initial(self) -> tuple[str, dict[str, str], str, dict[str, str]]:
        """The stored values as the fields show them (terminal-safe: SafeInput/SafeTextArea),
        so that an untouched field compares equal and is not written back. The instructions
        show the default's text while the story has none of its own."""
        meta = self.session.session_metadata
        fields = {key: safe(_as_text(meta.get(key))) for key, *_ in FIELDS}
        summary = safe(_as_text(self.session.memory.get(SUMMARY)))
        steering = Steering.of(self.session.memory)
        steer = {
            NOTE: safe(steering.note),
            NOTE_DEPTH: str(steering.note_depth),
            INSTRUCTIONS: safe(steering.instructions),
        }
        return safe(self.session.title), fields, summary, steer

    def compose(self) -> ComposeResult:
        title, fields, summary, steer = self._initial()
        with Vertical(id="form", classes="form"):
            with VerticalScroll(classes="fields"):
                with Horizontal(classes="field-row"):
                    yield Label("Title", classes="required")
                    # No max_length: the Input would cut a long paste without a word; the
                    # note under it says what is too long, and Save waits for a shorter one.
                    yield SafeInput(title, id="title", disabled=self.read_only, compact=True)
                yield Static(id="title-note", classes="note")
                for key, label, multi, placeholder in FIELDS:
                    with Horizontal(classes="field-row"):
                        yield Label(label)
                        if multi:
                            yield SafeTextArea(
                                fields[key],
                                id=key,
                                soft_wrap=True,
                                placeholder=placeholder,
                                read_only=self.read_only,
                            )
                        else:
                            yield SafeInput(
                                fields[key],
                                id=key,
                                placeholder=placeholder,
                                disabled=self.read_only,
                                compact=True,
                            )
                with Horizontal(classes="field-row"):
                    yield Label("Summary")
                    yield SafeTextArea(
                        summary,
                        id="summary",
                        soft_wrap=True,
                        read_only=self.read_only,
                        placeholder="Empty until the story outgrows the model's context window.",
                    )
                yield Static(Content(self._summary_note()), classes="note -info")
                # After the summary: the bible's own fields stay where a writer knows them.
                yield from self._steering_fields(steer)
            if self.read_only:
                yield Static(
                    Content("This story is completed: its bible is read-only."),
                    classes="error -shown",
                )
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                if not self.read_only:
                    # Among the form's buttons, not beside the area: the fields scroll, and a
                    # button must stay on screen at 80x24.
                    yield Button("Default instructions", id="default-instructions")
                yield Button("Close (esc)", id="cancel")
                if not self.read_only:
                    yield Button("Save (ctrl+s)", id="save", variant="primary")

    def _steering_fields(self, steer: dict[str, str]) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label("Author's note")
            yield SafeTextArea(
                steer[NOTE],
                id="note",
                soft_wrap=True,
                read_only=self.read_only,
                placeholder="A few words in every prompt until changed: tense, rain, Mara lies…",
            )
        with Horizontal(classes="field-row"):
            yield Label("Note depth")
            yield SafeInput(
                steer[NOTE_DEPTH],
                id="note-depth",
                type="integer",
                disabled=self.read_only,
                compact=True,
            )
            yield Static(
                Content(
                    f"before the last N parts, 0–{MAX_NOTE_DEPTH} (0: just before your direction)"
                ),
                id="depth-hint",
            )
        with Horizontal(classes="field-row"):
            yield Label("Instructions")
            yield SafeTextArea(
                steer[INSTRUCTIONS],
                id="instructions",
                soft_wrap=True,
                read_only=self.read_only,
                placeholder="Empty: the default instructions.",
            )
        yield Static(Content(self._instructions_note()), classes="note -info")

    def _instructions_note(self) -> str:
        if Steering.of(self.session.memory).own_instructions:
            return (
                "This story's own instructions to the model (its system prompt); "
                "“Default instructions” puts the default back."
            )
        return "The default instructions to the model: edit them to make them this story's own."

    @on(Button.Pressed, "#default-instructions")
    def _default_instructions(self, event: Button.Pressed) -> None:
        """The default's text back in the area (saved as "no instructions of its own")."""
        event.stop()
        area = self.query_one("#instructions", TextArea)
        area.load_text(DEFAULT_INSTRUCTIONS)
        area.focus()

    def _summary_note(self) -> str:
        memory = self.session.memory
        through = memory.get(SUMMARY_THROUGH)
        if isinstance(through, int) and through > 0:
            note = (
                f"The summary covers parts 1–{through}; the model gets newer parts word for "
                "word. Edit it to correct what the model remembers."
            )
            if memory.get(STALE):
                note += (
                    " A part it covers was edited since: check that it still says what "
                    "happened (saving it here marks it current)."
                )
            return note
        return "The model gets the whole story word for word while it fits; no summary yet."

    def on_mount(self) -> None:
        self.query_one("#form").border_title = Content.assemble(
            "Story bible · ", Content(safe(self.session.title))
        )
        self.query_one("#title-note").display = False
        self.query_one("#title", Input).focus()

    def _values(self) -> tuple[str, dict[str, str], str, dict[str, str]]:
        title = self.query_one("#title", Input).value
        fields: dict[str, str] = {}
        for key, _label, multi, _ in FIELDS:
            widget = self.query_one(f"#{key}")
            fields[key] = widget.text if multi else widget.value
        steer = {
            NOTE: self.query_one("#note", TextArea).text,
            NOTE_DEPTH: self.query_one("#note-depth", Input).value,
            INSTRUCTIONS: self.query_one("#instructions", TextArea).text,
        }
        return title, fields, self.query_one("#summary", TextArea).text, steer

    @property
    def changed(self) -> bool:
        return not self.read_only and self._values() != self._initial()

    def action_save(self) -> None:
        if self.read_only:
            return
        if not self.changed:
            self.dismiss(None)
            return
        title, fields, summary, steer = self._values()
        if (problem := title_problem(title)) is not None:
            self.show_error(problem)
            self.query_one("#title", Input).focus()
            return
        steering = self._steering_changes(steer)
        try:
            # Checked before anything is written: a bad depth leaves the rest unsaved too.
            clean_steering(steering)
        except StorytermError as exc:
            self.show_error(exc.message)
            return
        self.query_one("#save", Button).disabled = True
        self.save(title, fields, summary, steering)

    def _steering_changes(self, steer: dict[str, str]) -> dict[str, str]:
        """The steering fields the writer changed, as typed (the core reads empty as "the
        default")."""
        initial = self._initial()[3]
        return {key: value for key, value in steer.items() if value != initial[key]}

    @on(Input.Changed, "#title")
    def _title_changed(self, event: Input.Changed) -> None:
        show_title_problem(self.query_one("#title-note", Static), event.value)

    @work(thread=True, exclusive=True, group="save-bible", exit_on_error=False)
    def save(
        self, title: str, fields: dict[str, str], summary: str, steering: dict[str, str]
    ) -> None:
        sessions = self.app.runtime.sessions
        session = self.session
        initial_title, initial_fields, initial_summary, _ = self._initial()
        try:
            user_id = self.app.writer_id
            if summary != initial_summary:
                # The storyteller's own call: it also clears the "stale" mark.
                session = self.app.runtime.storyteller.set_summary(user_id, session.id, summary)
            if fields != initial_fields:
                metadata: dict[str, Any] = dict(session.session_metadata)
                for key, value in fields.items():
                    if value.strip():
                        metadata[key] = value.strip()
                    else:
                        metadata.pop(key, None)
                session = sessions.update_metadata(user_id, session.id, metadata)
            if steering:
                session = sessions.set_steering(user_id, session.id, steering)
            if title != initial_title:
                session = sessions.rename(user_id, session.id, title)
        except StorytermError as exc:
            self.post_message(SaveFailed(exc))
        else:
            self.post_message(self.Saved(session))

    @on(Saved)
    def _saved(self, event: Saved) -> None:
        self.dismiss(event.session)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)
