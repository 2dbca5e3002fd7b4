"""One lore entry's form: its name, keys, text, priority and marks, checked by the core when
saved (a bad regular expression is said on the form's error line, and nothing is lost)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from storyterm.core.memory.lore import MAX_CONTENT, split_keys
from storyterm.errors import StorytermError
from storyterm.tui.screens.form import FormBehaviour, SaveFailed
from storyterm.tui.text import one_line, safe
from storyterm.tui.widgets.safe_input import SafeInput
from storyterm.tui.widgets.safe_text_area import SafeTextArea

if TYPE_CHECKING:
    from storyterm.core.views import LoreEntry, Session
    from storyterm.tui.host import HostApp

#: The marks, in the order the form shows them: (field, label).
MARKS = (
    ("enabled", "On (sent when its keys come up)"),
    ("always_on", "Always on (sent with every part)"),
    ("regex", "Keys are regular expressions"),
    ("case_sensitive", "Keys match only in their case"),
)


class LoreEntryScreen(FormBehaviour, ModalScreen["LoreEntry | None"]):
    """Adds an entry (`entry` None) or edits one; dismisses with the saved entry or None."""

    DEFAULT_CSS = """
    LoreEntryScreen #content { height: 6; }
    LoreEntryScreen .marks { height: auto; padding: 0 0 1 14; }
    LoreEntryScreen Checkbox { border: none; padding: 0; height: 1; background: transparent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Close"),
    ]

    class Saved(Message):
        def __init__(self, entry: LoreEntry) -> None:
            super().__init__()
            self.entry = entry

    discard_question = "Discard your changes to this lore entry?"

    app: HostApp

    def __init__(self, session: Session, entry: LoreEntry | None) -> None:
        super().__init__(classes="form-screen")
        self.session = session
        self.entry = entry

    def _initial(self) -> dict[str, Any]:
        """The stored values as the fields show them (terminal-safe, like every field)."""
        entry = self.entry
        if entry is None:
            return {
                "name": "",
                "keys": "",
                "content": "",
                "priority": "0",
                "enabled": True,
                "always_on": False,
                "regex": False,
                "case_sensitive": False,
            }
        return {
            "name": safe(entry.name),
            "keys": safe(", ".join(entry.keys)),
            "content": safe(entry.content),
            "priority": str(entry.priority),
            "enabled": entry.enabled,
            "always_on": entry.always_on,
            "regex": entry.regex,
            "case_sensitive": entry.case_sensitive,
        }

    def compose(self) -> ComposeResult:
        values = self._initial()
        with Vertical(id="form", classes="form"):
            with VerticalScroll(classes="fields"):
                with Horizontal(classes="field-row"):
                    yield Label("Name", classes="required")
                    yield SafeInput(values["name"], id="name", placeholder="Mara", compact=True)
                with Horizontal(classes="field-row"):
                    yield Label("Keys")
                    yield SafeInput(
                        values["keys"],
                        id="keys",
                        placeholder="Mara, the keeper (commas between keys)",
                        compact=True,
                    )
                with Horizontal(classes="field-row"):
                    yield Label("Text", classes="required")
                    yield SafeTextArea(
                        values["content"],
                        id="content",
                        soft_wrap=True,
                        placeholder=f"What the model should know (up to {MAX_CONTENT:,} "
                        "characters).",
                    )
                with Horizontal(classes="field-row"):
                    yield Label("Priority")
                    yield SafeInput(values["priority"], id="priority", type="integer", compact=True)
                with Vertical(classes="marks"):
                    for field, label in MARKS:
                        yield Checkbox(label, values[field], id=field, compact=True)
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Close (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        what = "New lore entry" if self.entry is None else "Lore entry"
        self.query_one("#form").border_title = Content.assemble(
            f"{what} · ", Content(one_line(self.session.title))
        )
        # Inline: the app's stylesheet gives every form input the whole row.
        self.query_one("#priority", Input).styles.width = 12
        self.query_one("#name", Input).focus()

    def _values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            key: self.query_one(f"#{key}", Input).value for key in ("name", "keys", "priority")
        }
        values["content"] = self.query_one("#content", TextArea).text
        for field, _label in MARKS:
            values[field] = self.query_one(f"#{field}", Checkbox).value
        return values

    @property
    def changed(self) -> bool:
        return self._values() != self._initial()

    def action_save(self) -> None:
        if self.entry is not None and not self.changed:
            self.dismiss(None)
            return
        self.query_one("#save", Button).disabled = True
        self.save(self._values())

    @work(thread=True, exclusive=True, group="save-lore", exit_on_error=False)
    def save(self, values: dict[str, Any]) -> None:
        lore, writer = self.app.runtime.lore, self.app.writer_id
        fields = dict(values)
        fields["keys"] = split_keys(values["keys"])
        fields["priority"] = values["priority"].strip() or "0"
        try:
            if self.entry is None:
                entry = lore.add(writer, self.session.id, fields)
            else:
                initial = self._initial()
                changes = {k: v for k, v in fields.items() if values[k] != initial[k]}
                entry = lore.edit(writer, self.session.id, self.entry.id, changes)
        except StorytermError as exc:
            self.post_message(SaveFailed(exc))
        else:
            self.post_message(self.Saved(entry))

    @on(Saved)
    def _saved(self, event: Saved) -> None:
        self.dismiss(event.entry)
