"""The lorebook: a story's entries (enabled ○/●, always on ★, in the last prompt ✓ or left out
of it ✗), added, edited, switched on and off, deleted with a question and brought back with u."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from storyterm.core.memory.state import MemoryState
from storyterm.errors import StorytermError
from storyterm.tui.messages import Crashed
from storyterm.tui.screens.list_screen import ListScreen
from storyterm.tui.text import one_line
from storyterm.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from storyterm.core.views import LoreEntry, Session
    from storyterm.tui.host import HostApp

#: Characters of an entry's text shown under its name.
PREVIEW = 70


def entry_prompt(entry: LoreEntry, last: dict[str, set[int]]) -> Content:
    """Two lines: the marks, the name and the priority; the keys and the start of the text."""
    marks = Content.assemble(
        ("●" if entry.enabled else "○", "$text-success" if entry.enabled else "$text-muted"),
        ("★" if entry.always_on else " ", "$text-warning"),
        ("✓" if entry.id in last["used"] else "✗" if entry.id in last["left_out"] else " "),
        " ",
    )
    keys = ", ".join(entry.keys) or ("(no keys)" if entry.always_on else "(no keys: never sent)")
    if entry.regex:
        keys = f"/{keys}/"
    first = Content.assemble(
        marks,
        Content.styled(one_line(entry.name), "bold"),
        (f"  priority {entry.priority}", "$text-muted"),
    )
    text = one_line(entry.content)
    text = text if len(text) <= PREVIEW else text[:PREVIEW] + "…"
    second = Content.styled(f"    {one_line(keys)} — {text}", "$text-muted")
    return Content("\n").join([first, second])


class LoreLoaded(Message):
    def __init__(self, entries: list[LoreEntry], session: Session) -> None:
        super().__init__()
        self.entries = entries
        self.session = session


class LoreChanged(Message):
    """An entry was added, changed, deleted (`deleted`) or brought back."""

    def __init__(self, note: str, deleted: LoreEntry | None = None, restored: bool = False) -> None:
        super().__init__()
        self.note = note
        self.deleted = deleted
        self.restored = restored


class LoreFailed(Message):
    def __init__(self, error: StorytermError) -> None:
        super().__init__()
        self.error = error


class LoreScreen(ListScreen["Session | None"]):
    """Lists one story's lorebook; dismisses with the story as it is now when anything
    changed (None when nothing did)."""

    DEFAULT_CSS = """
    LoreScreen {
        #lore-note { color: $text-muted; padding: 1 2; }
        #lore-legend { color: $text-muted; padding: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add an entry"),
        Binding("enter", "edit", "Edit", key_display="⏎", show=False),
        Binding("e", "edit", "Edit", key_display="⏎/e", tooltip="Edit the highlighted entry"),
        Binding("space", "switch", "On/off", tooltip="Switch the highlighted entry on or off"),
        Binding("d", "delete", "Delete", tooltip="Delete the highlighted entry (u brings it back)"),
        Binding("u", "undo", "Undo delete", tooltip="Bring back the entry deleted last"),
        Binding("escape", "close", "Close"),
    ]

    app: HostApp

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.read_only = str(session.status) == "completed"
        self._entries: dict[str, LoreEntry] = {}
        #: Entries deleted here, the newest last: u brings them back in turn.
        self._deleted: list[LoreEntry] = []
        self._changed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield OptionList(id="lore")
            yield Static(Content("Opening the lorebook…"), id="lore-note")
            yield Static(
                Content("● on ○ off ★ always on · ✓ in the last prompt ✗ left out of it (no room)"),
                id="lore-legend",
            )
        yield KeyBar(show_command_palette=False)

    def on_mount(self) -> None:
        panel = self.query_one("#panel")
        panel.border_title = Content.assemble("Lorebook · ", Content(one_line(self.session.title)))
        self.query_one(OptionList).display = False
        self._load()

    @property
    def _list(self) -> OptionList:
        return self.query_one(OptionList)

    def _highlighted(self) -> LoreEntry | None:
        options = self._list
        if options.highlighted is None or not options.option_count:
            return None
        return self._entries.get(options.get_option_at_index(options.highlighted).id or "")

    def _writable(self) -> bool:
        if self.read_only:
            self.notify(
                "This story is completed: its lorebook is read-only. Reopen it (C) to change it.",
                markup=False,
            )
        return not self.read_only

    # -- the list --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="lore", exit_on_error=False)
    def _load(self) -> None:
        runtime, writer = self.app.runtime, self.app.writer_id
        try:
            entries = runtime.lore.list(writer, self.session.id)
            session = runtime.sessions.get(writer, self.session.id)
        except StorytermError as exc:
            self.post_message(LoreFailed(exc))
        else:
            self.post_message(LoreLoaded(entries, session))

    @on(LoreLoaded)
    def _loaded(self, event: LoreLoaded) -> None:
        self.session = event.session
        report = MemoryState.from_memory(event.session.memory).last_lore or {}
        last = {k: {i for i, _ in report.get(k, [])} for k in ("used", "left_out")}
        self._entries = {str(e.id): e for e in event.entries}
        options = self._list
        was = options.highlighted or 0
        options.clear_options()
        options.add_options(Option(entry_prompt(e, last), id=k) for k, e in self._entries.items())
        if self._entries:
            options.highlighted = min(was, len(self._entries) - 1)
        n = len(self._entries)
        options.display = bool(n)
        note = self.query_one("#lore-note", Static)
        note.display = not n
        note.update(
            Content(
                "No entries yet. Press a to add one: a name, the words that bring it in, and "
                "what the model should know when they come up."
            )
        )
        self.query_one("#panel").border_subtitle = f"{n:,} {'entry' if n == 1 else 'entries'}"
        options.focus()

    # -- changes ---------------------------------------------------------------------------

    def action_add(self) -> None:
        if self._writable():
            self._edit(None)

    def action_edit(self) -> None:
        entry = self._highlighted()
        if entry is not None and self._writable():
            self._edit(entry)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_edit()

    def _edit(self, entry: LoreEntry | None) -> None:
        from storyterm.tui.screens.lore_entry import LoreEntryScreen

        def saved(result: LoreEntry | None) -> None:
            if result is not None:
                what = "Added" if entry is None else "Saved"
                self.post_message(LoreChanged(f"{what} “{one_line(result.name)}”."))

        self.app.push_screen(LoreEntryScreen(self.session, entry), saved)

    def action_switch(self) -> None:
        entry = self._highlighted()
        if entry is not None and self._writable():
            self._change(entry, "toggle")

    def action_delete(self) -> None:
        from storyterm.tui.screens.confirm import ConfirmScreen

        entry = self._highlighted()
        if entry is None or not self._writable():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change(entry, "delete")

        name = Content.styled("“" + one_line(entry.name) + "”", "bold $text-accent")
        question = Content.assemble("Delete the lore entry ", name, "?")
        detail = "It is kept: u here brings it back, and so does `storyterm lore restore`."
        self.app.push_screen(ConfirmScreen(question, detail, yes="Delete", danger=True), answered)

    def action_undo(self) -> None:
        if not self._deleted:
            self.notify("Nothing deleted here to bring back.", markup=False)
            return
        if self._writable():
            self._change(self._deleted[-1], "restore")

    @work(thread=True, group="lore-change", exit_on_error=False)
    def _change(self, entry: LoreEntry, how: str) -> None:
        lore, writer, sid = self.app.runtime.lore, self.app.writer_id, self.session.id
        name = f"“{one_line(entry.name)}”"
        try:
            if how == "toggle":
                changed = lore.edit(writer, sid, entry.id, {"enabled": not entry.enabled})
                self.post_message(LoreChanged(f"{name} is {'on' if changed.enabled else 'off'}."))
            elif how == "delete":
                lore.delete(writer, sid, entry.id)
                self.post_message(LoreChanged(f"Deleted {name}. Press u to bring it back.", entry))
            else:
                lore.restore(writer, sid, entry.id)
                self.post_message(LoreChanged(f"{name} is back.", restored=True))
        except StorytermError as exc:
            self.post_message(LoreFailed(exc))

    @on(LoreChanged)
    def _done(self, event: LoreChanged) -> None:
        self._changed = True
        if event.deleted is not None:
            self._deleted.append(event.deleted)
        elif event.restored and self._deleted:
            self._deleted.pop()
        self.notify(event.note, markup=False)
        self._load()

    @on(LoreFailed)
    def _failed(self, event: LoreFailed) -> None:
        if not self._entries:
            self.query_one("#lore-note", Static).update(Content(event.error.message))
        self.app.report_error(event.error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))  # the app tells the writer

    def action_close(self) -> None:
        self.dismiss(self.session if self._changed else None)
