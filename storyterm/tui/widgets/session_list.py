"""The left pane: the status filters, a title search, and the writer's sessions a page at a time.

The list never holds more than the pages the writer has scrolled through: the panel loads the
next page (LIST_PAGE sessions) from the reader it is given each time the list nears its end,
and the first page again when asked to; the filter and the search are done by the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol

from msgspec import structs
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist
from textual.worker import Worker, WorkerState

from storyterm.core.views import STATUS_MARK, ago
from storyterm.errors import StorytermError
from storyterm.tui.compat import replace_option_prompt
from storyterm.tui.messages import Crashed, SessionsLoaded, WorkFailed
from storyterm.tui.text import one_line
from storyterm.tui.widgets.filter_bar import FilterBar
from storyterm.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from storyterm.core.views import Page, Session

#: Filter key -> its label; the key is the status filter the database applies ("all": none).
FILTERS: dict[str, str] = {
    "all": "All",
    "active": "Active",
    "paused": "Paused",
    "completed": "Done",
}
#: Sessions per page of the list.
LIST_PAGE = 50
#: The most sessions the database gives at once (SessionService.list).
MAX_PAGE = 500
#: Ask for the next page when the cursor or the scroll position is this close to the end.
NEAR_END = 10

_MARK_STYLE = {"active": "$success", "paused": "$warning", "completed": "$text-muted"}


class SessionPages(Protocol):
    """Where the list reads its pages: the writer's sessions, filtered and searched by the
    database. Called in a worker thread."""

    def sessions(
        self, status: str, search: str, cursor: str | None, limit: int
    ) -> Page[Session]: ...

    def count(self, status: str, search: str) -> int: ...


def short_model(name: str | None) -> str:
    """'gemma3:latest' -> 'gemma3' (the tag everyone uses is noise in a narrow list)."""
    if not name:
        return ""
    return name.removesuffix(":latest")


def short_words(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    return f"{n / 1000:.1f}k" if n < 100_000 else f"{n // 1000}k"


def session_prompt(session: Session, now: datetime) -> Content:
    """Two lines: the mark and title; parts, words, model and age, dimmed."""
    status = str(session.status)
    first = Content.assemble(
        Content.styled(STATUS_MARK.get(session.status, "?"), _MARK_STYLE.get(status, "")),
        " ",
        Content.styled(one_line(session.title), "bold"),
    )
    details = [f"{session.part_count:,}p", f"{short_words(session.word_count)} words"]
    if session.model_name:
        details.append(short_model(session.model_name))
    details.append(ago(session.updated_at, now))
    second = Content.styled("  " + " · ".join(one_line(d) for d in details), "$text-muted")
    return Content("\n").join([first.truncate(200), second])


class SearchInput(SafeInput):
    """The title search: typing filters in the database, Esc clears it, Enter goes to the list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_or_leave", "Clear search", show=False),
        Binding("down", "leave", "To the list", show=False),
    ]

    class Leave(Message):
        """The writer is done searching: focus the list."""

    def action_clear_or_leave(self) -> None:
        if self.value:
            self.value = ""
        else:
            self.post_message(self.Leave())

    def action_leave(self) -> None:
        self.post_message(self.Leave())


class SessionList(OptionList):
    """The sessions as a scrolling list of two-line options; asks for more near its end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class NeedMore(Message):
        """The writer is near the end of what is loaded: load the next page."""

    #: More sessions exist in the database after the last one loaded.
    has_more: reactive[bool] = reactive(False, init=False)
    loading: reactive[bool] = reactive(False, init=False)

    def _maybe_need_more(self) -> None:
        if not self.has_more or self.loading:
            return
        # Before its first layout the list has no size and seems scrolled to the end.
        near_scroll = bool(self.size.height) and (
            self.scroll_y >= self.max_scroll_y - max(self.size.height, NEAR_END)
        )
        near_cursor = (
            self.highlighted is not None and self.highlighted >= self.option_count - NEAR_END
        )
        if near_scroll or near_cursor:
            self.loading = True
            self.post_message(self.NeedMore())

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._maybe_need_more()

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        self._maybe_need_more()

    def on_resize(self) -> None:
        # Laid out (or resized) with room to spare below the last row: the next page.
        self._maybe_need_more()


class SessionsPanel(Vertical):
    """Filters, search and list together; owns the query (filter + search) and the pages it
    has loaded from its reader."""

    DEFAULT_CSS = """
    SessionsPanel {
        width: 36%;
        min-width: 28;
        max-width: 44;
        border: round $border-blurred;
        border-title-color: $text-muted;
        /* The pane with the keyboard stands out: heavy border, title lit. */
        &:focus-within {
            border: heavy $border; border-title-color: $text-accent;
            border-title-style: bold;
        }
        SearchInput, SearchInput:focus {
            border: none; height: 1; padding: 0 1; margin: 0 0 1 0; background: $boost;
        }
        SearchInput:focus { background: $surface-lighten-1; }
        SessionList, SessionList:focus {
            border: none; height: 1fr; background: transparent; padding: 0;
            /* Two lines a story, whatever the width: a long title or detail line ends in
               an ellipsis instead of wrapping a word or two onto a line of its own. */
            text-wrap: nowrap; text-overflow: ellipsis;
        }
        SessionList > .option-list--option { padding: 0 1; }
        #empty-list { color: $text-muted; padding: 1 2; display: none; }
        &.-empty #empty-list { display: block; }
        &.-empty SessionList { display: none; }
    }
    """

    class QueryChanged(Message):
        """The filter or the search changed: reload the list from the first page."""

        def __init__(self, status: str, search: str) -> None:
            super().__init__()
            self.status = status
            self.search = search

    class Highlighted(Message):
        """The cursor is on this session (the screen previews it)."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    class Chosen(Message):
        """Enter on a session: open it and go write."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    status: reactive[str] = reactive("all", init=False)
    search: reactive[str] = reactive("", init=False)
    total: reactive[int | None] = reactive(None)

    def __init__(
        self,
        now: Callable[[], datetime],
        reader: SessionPages,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._now = now
        self._reader = reader
        #: Where the next page starts (None: no more, or nothing loaded).
        self._cursor: str | None = None
        #: Counts the loads asked for: a page that arrives after a newer load was asked for
        #: is dropped.
        self._request = 0
        self._sessions: dict[str, Session] = {}
        self._search_timer: Timer | None = None
        self._loaded_once = False
        #: The load reading the loaded rows again (refresh_loaded) while it is under way, and
        #: whether another was asked for meanwhile.
        self._refresh_request: int | None = None
        self._refresh_again = False

    def compose(self) -> ComposeResult:
        yield FilterBar(FILTERS, id="filters")
        yield SearchInput(placeholder="/ search titles", id="search")
        yield SessionList(id="sessions")
        yield Static(id="empty-list")

    def on_mount(self) -> None:
        self.border_title = "Sessions"
        self.set_interval(60, self._refresh_ages)

    @property
    def session_list(self) -> SessionList:
        return self.query_one(SessionList)

    # -- query -----------------------------------------------------------------------------

    def set_filter(self, status: str) -> None:
        """Switch the tab (1-4 keys call this); the tab change reloads the list."""
        self.query_one(FilterBar).active = status

    def show_new(self, session_id: str) -> None:
        """A story was just started: it is the newest in every order, so the first page is
        loaded again with it highlighted (all stories, if the filter would hide it)."""
        if self.status not in ("all", "active") or self.search:
            self.set_filter("all")
        self.load(reset=True, keep=session_id)

    @on(FilterBar.Changed, "#filters")
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        event.stop()
        if event.active != self.status:
            self.status = event.active
            self.post_message(self.QueryChanged(self.status, self.search))

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        # Wait for a pause in typing: one query per burst, not one per key.
        self._search_timer = self.set_timer(0.25, lambda: self._apply_search(event.value))

    def _apply_search(self, value: str) -> None:
        value = value.strip()
        if value != self.search:
            self.search = value
            self.post_message(self.QueryChanged(self.status, self.search))

    @on(Input.Submitted, "#search")
    @on(SearchInput.Leave)
    def _leave_search(self, event: Message) -> None:
        event.stop()
        if isinstance(event, Input.Submitted):
            self._apply_search(event.value)
        self.session_list.focus()

    def focus_search(self) -> None:
        self.query_one(SearchInput).focus()

    def focus_list(self) -> None:
        """Focus the list, or the filters while it is empty (an empty list is hidden)."""
        if self.has_class("-empty"):
            self.query_one(FilterBar).focus()
        else:
            self.session_list.focus()

    # -- loading pages ---------------------------------------------------------------------

    def load(self, *, reset: bool, keep: str | None = None) -> None:
        """Load the first page for the current query again (`reset`), or the next page.

        `keep` is a session id to leave highlighted if it is on the first page.
        """
        self._request += 1
        cursor = None if reset else self._cursor
        self._load(self._request, self.status, self.search, cursor, reset, keep)

    def refresh_loaded(self) -> None:
        """Read the rows loaded so far again (a story was changed, started or deleted in
        another window): the list shows them as the database now has them, in its order, the
        cursor staying on the story it was on. One reading at a time; changes heard while one
        is under way read again once it is done."""
        if self._refresh_request == self._request:  # under way, and no other load since
            self._refresh_again = True
            return
        self._refresh_again = False
        self._request += 1
        self._refresh_request = self._request
        rows = max(self.loaded_count, LIST_PAGE)
        self._load(self._request, self.status, self.search, None, True, None, rows)

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def _load(
        self,
        request: int,
        status: str,
        search: str,
        cursor: str | None,
        reset: bool,
        keep: str | None,
        rows: int = 0,
    ) -> None:
        """A page (LIST_PAGE rows), or with `rows` the first that many again (refresh_loaded),
        read a page of at most MAX_PAGE at a time."""
        try:
            page = self._reader.sessions(status, search, cursor, min(rows or LIST_PAGE, MAX_PAGE))
            while rows and len(page.items) < rows and page.next_cursor is not None:
                more = self._reader.sessions(
                    status, search, page.next_cursor, min(rows - len(page.items), MAX_PAGE)
                )
                items = [*page.items, *more.items]
                page = structs.replace(page, items=items, next_cursor=more.next_cursor)
            total = self._reader.count(status, search) if reset else None
        except StorytermError as exc:
            self.post_message(WorkFailed(exc))
        else:
            self.post_message(SessionsLoaded(request, page, reset, total, keep, again=bool(rows)))

    @on(SessionsLoaded)
    def _loaded(self, event: SessionsLoaded) -> None:
        event.stop()
        if event.request != self._request:
            return  # a newer load has been asked for since
        if event.again:
            self._refresh_request = None
            self._show_again(event.page, event.total)
        else:
            self.show_page(
                event.page.items,
                reset=event.reset,
                cursor=event.page.next_cursor,
                total=event.total,
                keep=event.keep,
            )
        if self._refresh_again:  # changes heard meanwhile (a load may have overtaken it)
            self.refresh_loaded()

    @on(SessionList.NeedMore)
    def _need_more(self, event: SessionList.NeedMore) -> None:
        event.stop()
        if self._cursor is not None:
            self.load(reset=False)
        else:
            self.page_failed()

    @on(WorkFailed)
    def _load_failed(self) -> None:
        # Only this panel's loads post here. The message goes on up: the screen tells the
        # writer what went wrong.
        self.page_failed()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker states do not bubble: the screen hears of a bug in a load from this message.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))

    # -- data in ---------------------------------------------------------------------------

    def show_page(
        self,
        sessions: Iterable[Session],
        *,
        reset: bool,
        cursor: str | None = None,
        total: int | None = None,
        keep: str | None = None,
    ) -> None:
        """Put a page of sessions in the list: a fresh first page (`reset`) or the next one;
        `cursor` is where the page after it starts (None: there is none).

        `keep` is a session id to leave highlighted if it is on the page.
        """
        self._cursor = cursor
        has_more = cursor is not None
        option_list = self.session_list
        now = self._now()
        new = [s for s in sessions if reset or s.id not in self._sessions]
        if reset:
            self._sessions.clear()
            option_list.clear_options()
        for session in new:
            self._sessions[session.id] = session
        option_list.add_options(Option(session_prompt(s, now), id=s.id) for s in new)
        option_list.has_more = has_more
        option_list.loading = False
        if total is not None:
            self.total = total
        if reset:
            index = None
            if keep is not None:
                try:
                    index = option_list.get_option_index(keep)
                except OptionDoesNotExist:
                    index = None
            option_list.highlighted = index if index is not None else (0 if new else None)
        self._loaded_once = True
        self._update_empty()

    def page_failed(self) -> None:
        """A page could not be loaded: let a later scroll ask again."""
        self.session_list.loading = False
        self._refresh_request = None

    def _show_again(self, page: Page[Session], total: int | None) -> None:
        """The loaded rows as read again (refresh_loaded): the cursor stays on its story, or
        where it was when that story is gone; the story pane is not told (the cursor did not
        move to another story: the writer did nothing)."""
        option_list = self.session_list
        highlighted, index = self.highlighted_id, option_list.highlighted
        scroll_y = option_list.scroll_y
        now = self._now()
        self._sessions = {s.id: s for s in page.items}
        self._cursor = page.next_cursor
        with option_list.prevent(OptionList.OptionHighlighted):
            option_list.set_options(Option(session_prompt(s, now), id=s.id) for s in page.items)
            if highlighted in self._sessions:
                option_list.highlighted = option_list.get_option_index(highlighted)
            elif index is not None and option_list.option_count:
                option_list.highlighted = min(index, option_list.option_count - 1)
        option_list.has_more = page.next_cursor is not None
        option_list.loading = False
        option_list.scroll_to(y=scroll_y, animate=False, immediate=True)
        option_list.scroll_to_highlight()
        if total is not None:
            self.total = total
        self._update_empty()

    def update_session(self, session: Session) -> None:
        """Show a changed session. The list is newest change first, as the database orders it:
        a story that was written to (or paused, renamed...) moves to the top, the cursor
        staying on the story it was on."""
        old = self._sessions.get(session.id)
        if old is None:
            return
        self._sessions[session.id] = session
        option_list = self.session_list
        prompt = session_prompt(session, self._now())
        if session.updated_at == old.updated_at or option_list.get_option_index(session.id) == 0:
            replace_option_prompt(option_list, session.id, prompt)
            return
        # The loaded pages are a prefix of the newest-first order, and the changed story is now
        # the newest of all: moved to the top, they still are.
        highlighted = self.highlighted_id
        order = sorted(self._sessions.values(), key=lambda s: (s.updated_at, s.id), reverse=True)
        now = self._now()
        option_list.set_options(
            Option(prompt if s.id == session.id else session_prompt(s, now), id=s.id) for s in order
        )
        if highlighted is not None:
            option_list.highlighted = option_list.get_option_index(highlighted)

    def behind(self, session_id: str, version: int | None) -> bool:
        """Whether a change to this story, at `version`, is newer than its row (a story not in
        the list may belong in it now)."""
        shown = self._sessions.get(session_id)
        return shown is None or version is None or version > shown.version

    def shows(self, session_id: str) -> bool:
        """Whether the story is in the list (as far as its pages are loaded)."""
        return session_id in self._sessions

    def remove_session(self, session_id: str) -> None:
        if session_id not in self._sessions:
            return
        del self._sessions[session_id]
        option_list = self.session_list
        index = option_list.get_option_index(session_id)
        option_list.remove_option(session_id)
        if self.total:
            self.total -= 1
        if option_list.option_count:
            option_list.highlighted = min(index, option_list.option_count - 1)
        self._update_empty()

    def select(self, session_id: str) -> None:
        """Move the cursor to a session if it is loaded."""
        with contextlib.suppress(OptionDoesNotExist):
            self.session_list.highlighted = self.session_list.get_option_index(session_id)

    @property
    def highlighted_id(self) -> str | None:
        option = self.session_list.highlighted_option
        return option.id if option is not None else None

    @property
    def loaded_count(self) -> int:
        return self.session_list.option_count

    def watch_total(self, total: int | None) -> None:
        self.border_title = "Sessions" if total is None else f"Sessions · {total:,}"

    def _update_empty(self) -> None:
        empty = self.session_list.option_count == 0 and self._loaded_once
        self.set_class(empty, "-empty")
        if empty:
            if self.search:
                text = f"No titles match “{one_line(self.search)}”.\nEsc in the search clears it."
            elif self.status != "all":
                text = f"No {FILTERS[self.status].lower()} stories.\nPress 1 to see them all."
            else:
                text = "No stories yet.\nPress n to start your first one."
            self.query_one("#empty-list", Static).update(Content(text))

    def _refresh_ages(self) -> None:
        """'just now' must not stay 'just now': refresh the newest rows' ages every minute."""
        now = self._now()
        option_list = self.session_list
        for option in list(option_list.options)[:100]:
            session = self._sessions.get(option.id or "")
            if session is not None:
                option_list.replace_option_prompt(session.id, session_prompt(session, now))

    # -- events up -------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#sessions")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Highlighted(event.option.id))

    @on(OptionList.OptionSelected, "#sessions")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Chosen(event.option.id))
