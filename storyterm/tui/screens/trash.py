"""The trash: deleted stories and parts, newest first, to bring back or delete for good."""

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

from storyterm.core.views import ago
from storyterm.errors import StorytermError
from storyterm.tui.messages import Crashed
from storyterm.tui.screens.list_screen import ListScreen
from storyterm.tui.text import count, one_line
from storyterm.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from datetime import datetime

    from storyterm.core.views import TrashItem
    from storyterm.tui.host import HostApp

#: How a title stands out in a question about it (as in tui/main/history_actions.py).
TITLE_STYLE = "bold $text-accent"


class TrashChanges:
    """What the writer did in the trash, for the main screen to show when it closes."""

    __slots__ = ("gone", "parts_back", "stories_back")

    def __init__(self) -> None:
        #: Stories brought back (the session list shows them again).
        self.stories_back: set[str] = set()
        #: Stories that got a part back (the story pane reads them again).
        self.parts_back: set[str] = set()
        #: Stories deleted for good.
        self.gone: set[str] = set()

    @property
    def touched(self) -> set[str]:
        return self.stories_back | self.parts_back | self.gone

    def __bool__(self) -> bool:
        return bool(self.touched)


def item_key(item: TrashItem) -> str:
    """The option id of a trash item: a story by its id, a part by its trash number."""
    return f"story-{item.session_id}" if item.part_id is None else f"part-{item.part_id}"


def item_name(item: TrashItem) -> Content:
    """'“Salt Roads”' or 'part 2 of “Salt Roads”', the title in bold."""
    title = Content.styled("“" + one_line(item.title) + "”", TITLE_STYLE)
    if item.part_id is None:
        return title
    return Content.assemble(f"part {item.seq} of ", title)


def item_prompt(item: TrashItem, now: datetime) -> Content:
    """Two lines: what it is and its title; its words, when it was deleted, a few words of it."""
    name = item_name(item)
    first = Content.assemble(("story ", "$text-muted"), name) if item.part_id is None else name
    details = [count(item.word_count, "word"), f"deleted {ago(item.deleted_at, now)}"]
    if item.preview:
        details.append(one_line(item.preview))
    second = Content.styled("  " + " · ".join(details), "$text-muted")
    return Content("\n").join([first, second])


class TrashLoaded(Message):
    def __init__(self, items: list[TrashItem]) -> None:
        super().__init__()
        self.items = items


class TrashDone(Message):
    """An item was brought back (`restored`) or deleted for good."""

    def __init__(self, item: TrashItem, restored: bool, note: str) -> None:
        super().__init__()
        self.item = item
        self.restored = restored
        self.note = note


class TrashFailed(Message):
    def __init__(self, error: StorytermError, item: TrashItem | None = None) -> None:
        super().__init__()
        self.error = error
        #: The item that could not be restored or deleted (None: the trash did not load).
        self.item = item


class TrashScreen(ListScreen[TrashChanges]):
    """Lists the writer's trash; Enter or r restores, D deletes for good, Esc closes (with
    what changed, for the main screen)."""

    DEFAULT_CSS = """
    TrashScreen {
        #trash-note { color: $text-muted; padding: 1 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "r", "restore", "Restore", key_display="⏎/r", tooltip="Bring the highlighted item back"
        ),
        Binding("D", "delete_forever", "Delete for good", key_display="D"),
        Binding("escape", "close", "Close"),
    ]

    app: HostApp

    def __init__(self, days: int) -> None:
        super().__init__()
        self._days = days
        self._items: dict[str, TrashItem] = {}
        #: Items being restored or deleted (a second press does nothing meanwhile).
        self._busy: set[str] = set()
        self._changes = TrashChanges()

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield OptionList(id="trash")
            yield Static(Content("Opening the trash…"), id="trash-note")
        yield KeyBar(show_command_palette=False)

    def on_mount(self) -> None:
        panel = self.query_one("#panel")
        panel.border_title = "Trash"
        self.query_one(OptionList).display = False
        self._load()

    @property
    def _list(self) -> OptionList:
        return self.query_one(OptionList)

    def _highlighted(self) -> TrashItem | None:
        """The highlighted item, unless it is already being restored or deleted."""
        options = self._list
        if options.highlighted is None or not options.option_count:
            return None
        key = options.get_option_at_index(options.highlighted).id or ""
        return None if key in self._busy else self._items.get(key)

    # -- the list --------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="trash", exit_on_error=False)
    def _load(self) -> None:
        try:
            items = self.app.runtime.history.trash(self.app.writer_id)
        except StorytermError as exc:
            self.post_message(TrashFailed(exc))
        else:
            self.post_message(TrashLoaded(items))

    @on(TrashLoaded)
    def _loaded(self, event: TrashLoaded) -> None:
        now = self.app.now()
        self._items = {item_key(item): item for item in event.items}
        options = self._list
        was = options.highlighted or 0
        options.clear_options()
        options.add_options(Option(item_prompt(i, now), id=k) for k, i in self._items.items())
        if self._items:
            options.highlighted = min(was, len(self._items) - 1)
        self._show_count()
        options.focus()

    def _show_count(self) -> None:
        n = len(self._items)
        self._list.display = bool(n)
        note = self.query_one("#trash-note", Static)
        note.display = not n
        note.update(Content("The trash is empty. What you delete waits here."))
        panel = self.query_one("#panel")
        panel.border_subtitle = f"{count(n, 'item')} · kept {count(self._days, 'day')}" if n else ""

    # -- restore, delete for good ----------------------------------------------------------

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_restore()

    def action_restore(self) -> None:
        item = self._highlighted()
        if item is not None:
            self._act(item, restore=True)

    def action_delete_forever(self) -> None:
        """Ask, naming what goes, then delete it for good."""
        from storyterm.tui.screens.confirm import ConfirmScreen

        item = self._highlighted()
        if item is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(item, restore=False)

        question = Content.assemble("Delete ", item_name(item), " for good?")
        detail = "It cannot be brought back: not from the trash, not with u."
        self.app.push_screen(
            ConfirmScreen(question, detail, yes="Delete for good", danger=True), answered
        )

    def _act(self, item: TrashItem, *, restore: bool) -> None:
        self._busy.add(item_key(item))
        self._change(item, restore)

    @work(thread=True, group="trash-change", exit_on_error=False)
    def _change(self, item: TrashItem, restore: bool) -> None:
        history = self.app.runtime.history
        writer = self.app.writer_id
        title = f"“{one_line(item.title)}”"
        try:
            if item.part_id is None and restore:
                history.restore(writer, item.session_id)
                note = f"{title} is back among your stories."
            elif item.part_id is None:
                history.delete_forever(writer, item.session_id)
                note = f"{title} is deleted for good."
            elif restore:
                part = history.restore_part(writer, item.part_id)
                note = f"Part {part.seq} of {title} is back in its place."
            else:
                history.delete_part_forever(writer, item.part_id)
                note = f"Part {item.seq} of {title} is deleted for good."
        except StorytermError as exc:
            self.post_message(TrashFailed(exc, item))
        else:
            self.post_message(TrashDone(item, restore, note))

    @on(TrashDone)
    def _done(self, event: TrashDone) -> None:
        item = event.item
        changes = self._changes
        if not event.restored:
            if item.part_id is None:
                changes.gone.add(item.session_id)
        elif item.part_id is None:
            changes.stories_back.add(item.session_id)
        else:
            changes.parts_back.add(item.session_id)
        key = item_key(item)
        self._busy.discard(key)
        if self._items.pop(key, None) is not None:
            self._list.remove_option(key)
        self._show_count()
        self.notify(event.note, markup=False)
        # Read it again: a story deleted for good takes its deleted parts with it.
        self._load()

    @on(TrashFailed)
    def _failed(self, event: TrashFailed) -> None:
        if event.item is None:
            self.query_one("#trash-note", Static).update(Content(event.error.message))
        else:
            self._busy.discard(item_key(event.item))
        self.app.report_error(event.error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))  # the app tells the writer

    def action_close(self) -> None:
        self.dismiss(self._changes)
