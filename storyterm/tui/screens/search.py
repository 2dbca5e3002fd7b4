"""Search inside stories: type words, see the parts of your stories that hold them (story,
part, a snippet with the words marked), Enter opens the story at that part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from storyterm.core.search import MAX_QUERY
from storyterm.errors import StorytermError
from storyterm.tui.messages import Crashed
from storyterm.tui.screens.list_screen import ListScreen
from storyterm.tui.text import one_line, safe
from storyterm.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from storyterm.core.views import SearchHit, SearchResults
    from storyterm.tui.host import HostApp

#: How a match stands out in a snippet, and a title in a result.
MATCH_STYLE = "bold reverse $text-accent"
TITLE_STYLE = "bold"


@dataclass(frozen=True)
class SearchPick:
    """The result the writer chose, and what they searched for (find next goes on with it)."""

    query: str
    session_id: str
    seq: int


def hit_prompt(hit: SearchHit) -> Content:
    """Two lines: the story and the part; the snippet, its matches marked. Every piece of
    text is made terminal-safe and is never read as markup."""
    first = Content.assemble(
        (one_line(hit.title), TITLE_STYLE), (f" · part {hit.seq:,}", "$text-muted")
    )
    # The core folded the snippet onto one line; `safe` keeps each piece's spaces.
    snippet = Content.assemble(
        "  ",
        *((safe(p.text), MATCH_STYLE) if p.match else safe(p.text) for p in hit.snippet),
    )
    return Content("\n").join([first, snippet])


class SearchDone(Message):
    def __init__(self, query: str, results: SearchResults | None, error: str = "") -> None:
        super().__init__()
        self.query = query
        self.results = results
        self.error = error


class SearchScreen(ListScreen[SearchPick | None]):
    """A search box over the writer's stories; ↓ into the results, Enter opens one, Esc
    closes."""

    DEFAULT_CSS = """
    SearchScreen {
        Input { margin: 0 0 1 0; }
        #search-note { color: $text-muted; padding: 0 2; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("down", "results", "Results", show=False),
    ]

    app: HostApp

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self._query = query
        self._hits: dict[str, SearchHit] = {}
        self._searched = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Input(
                self._query,
                placeholder='Words from your stories ("in quotes" for a phrase)',
                max_length=MAX_QUERY,
                id="search-input",
            )
            yield OptionList(id="search-results")
            yield Static(Content("Type words and press Enter."), id="search-note")
        yield KeyBar(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#panel").border_title = "Search in your stories"
        self._list.display = False
        self.query_one(Input).focus()
        if self._query:
            self._search(self._query)

    @property
    def _list(self) -> OptionList:
        return self.query_one(OptionList)

    def _note(self, text: str) -> None:
        note = self.query_one("#search-note", Static)
        note.display = bool(text)
        note.update(Content(text))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._note("Searching…")
        self._search(event.value)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, query: str) -> None:
        try:
            results = self.app.runtime.sessions.searching.search(self.app.writer_id, query)
        except StorytermError as exc:
            self.post_message(SearchDone(query, None, exc.message))
        else:
            self.post_message(SearchDone(query, results))

    @on(SearchDone)
    def _done(self, event: SearchDone) -> None:
        options = self._list
        options.clear_options()
        self._hits = {}
        if event.results is None:
            options.display = False
            self._note(event.error)
            return
        self._searched = event.query
        hits = event.results.hits
        self._hits = {f"hit-{n}": hit for n, hit in enumerate(hits)}
        options.add_options(Option(hit_prompt(h), id=k) for k, h in self._hits.items())
        options.display = bool(hits)
        if not hits:
            self._note("Nothing found. Parts in the trash are not searched.")
            return
        more = " (the best; add words to narrow it)" if event.results.next_offset else ""
        self._note("")
        self.query_one("#panel").border_subtitle = f"{len(hits)} parts{more}"
        options.highlighted = 0
        options.focus()

    def action_results(self) -> None:
        if self._hits:
            self._list.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        hit = self._hits.get(event.option.id or "")
        if hit is not None:
            self.dismiss(SearchPick(self._searched, hit.session_id, hit.seq))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))  # the app tells the writer

    def action_close(self) -> None:
        if isinstance(self.focused, OptionList):
            self.query_one(Input).focus()  # Esc in the results: back to the words
        else:
            self.dismiss(None)
