"""The status line: is Ollama answering, which database, is the Redis cache on, and how this
window hears of changes made in others (only when that is not live from Redis as it should be).

It checks Ollama and the cache itself, from the probe it is given, once asked to start; the
live state is set by the main screen's listener (tui/main/live.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from textual import on, work
from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from storyterm.tui.messages import Crashed, Health
from storyterm.tui.text import plain

if TYPE_CHECKING:
    from storyterm.core.views import Session

#: Ollama states the screen sets: unknown until the first check after start-up.
OLLAMA_CHECKING = "checking"
OLLAMA_UP = "up"
OLLAMA_DOWN = "down"
#: Ollama answers, but the model failed in the last generation (until one goes through).
OLLAMA_MODEL_ERROR = "model error"
#: Seconds between checks of Ollama and Redis.
CHECK_EVERY = 20.0


class HealthProbe(Protocol):
    """Where the status line asks how the services are."""

    async def ollama_up(self) -> bool: ...

    def cache_state(self) -> str:
        """ "online" / "offline" / "disabled"; called in a worker thread."""
        ...


class StatusBar(Static):
    """`Ollama ● gemma3 · db ● sqlite · cache ● redis`: green is fine, red needs the writer,
    yellow is a model that failed while Ollama is up."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    ollama: reactive[str] = reactive(OLLAMA_CHECKING)
    #: Why the model failed, while `ollama` is OLLAMA_MODEL_ERROR (shown as the tooltip).
    model_error: reactive[str | None] = reactive(None)
    #: The open session (data-bound from the screen): its model is shown next to Ollama's mark.
    session: reactive[Session | None] = reactive(None)
    #: "sqlite" / "postgresql" once connected; None while opening.
    database: reactive[str | None] = reactive(None)
    database_ok: reactive[bool | None] = reactive(None)
    #: "online" / "offline" / "disabled" (core.cache.CacheState values).
    cache: reactive[str | None] = reactive(None)
    #: How changes made elsewhere are heard, when it is worth a word: None while live from
    #: Redis (or with no Redis set up: nothing is missing then), else e.g. "every 2 s" while
    #: Redis is set up but not answering and the database is watched instead.
    live: reactive[str | None] = reactive(None)
    #: Why (the listener's own words), shown as the tooltip of that word.
    live_reason: reactive[str | None] = reactive(None)
    #: How much of the model's window the open story's next prompt takes, as typed so far
    #: ("ctx 5.1k/8k", tui/main/gauge.py); None: not known (yet).
    context: reactive[str | None] = reactive(None)

    def __init__(self, probe: HealthProbe) -> None:
        super().__init__()
        self._probe = probe
        self._checks: Timer | None = None

    # -- health ----------------------------------------------------------------------------

    def keep_checking(self, every: float = CHECK_EVERY) -> bool:
        """Check the services every `every` seconds from now on; False if already doing so."""
        if self._checks is not None:
            return False
        self._checks = self.set_interval(every, self.check)
        return True

    def check(self) -> None:
        """Ask Ollama and the cache how they are now."""
        self._probe_ollama()
        self._probe_cache()

    @work(exclusive=True, group="ollama", exit_on_error=False)
    async def _probe_ollama(self) -> None:
        self.post_message(Health(ollama_up=await self._probe.ollama_up(), cache=None))

    @work(thread=True, exclusive=True, group="cache", exit_on_error=False)
    def _probe_cache(self) -> None:
        self.post_message(Health(ollama_up=None, cache=self._probe.cache_state()))

    @on(Health)
    def show(self, event: Health) -> None:
        """Show what a check (this bar's, or a generation's) found."""
        event.stop()
        if event.model_error is not None:
            self.ollama, self.model_error = OLLAMA_MODEL_ERROR, event.model_error
        elif event.ollama_up is False:
            self.ollama, self.model_error = OLLAMA_DOWN, None
        elif event.ollama_up and (event.model_ok or self.ollama != OLLAMA_MODEL_ERROR):
            # Ollama listing its models says nothing about the model: a model error stays
            # until a generation goes through.
            self.ollama, self.model_error = OLLAMA_UP, None
        self._show_why()
        if event.cache is not None:
            self.cache = event.cache
        if event.recheck:
            self._probe_ollama()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker states do not bubble: the screen hears of a bug in a check from this message.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))

    def render(self) -> Content:
        if self.database is None and self.database_ok is None:
            db = [Content("db "), _mark(None), Content(" opening…")]
        elif self.database_ok is False:
            db = [Content("db "), _mark(False), Content.styled(" unreachable", "$error")]
        else:
            db = [Content("db "), _mark(True), Content(f" {self.database}")]

        if self.cache is None:
            cache = [Content("cache "), _mark(None)]
        elif self.cache == "online":
            cache = [Content("cache "), _mark(True), Content(" redis")]
        elif self.cache == "offline":
            cache = [Content("cache "), Content.styled("●", "$warning"), Content(" offline")]
        else:
            cache = [Content("cache "), _mark(None), Content(" off")]

        sep = Content.styled("  ·  ", "$text-muted 50%")
        live = [] if self.live is None else [sep, Content.styled(f"live: {self.live}", "$warning")]
        ctx = [] if self.context is None else [sep, Content(self.context)]
        return Content.assemble(*self._ollama(), *ctx, sep, *db, sep, *cache, *live)

    def watch_live_reason(self) -> None:
        self._show_why()

    def _show_why(self) -> None:
        # Text from elsewhere (an error's words): a Content, never read as markup.
        why = self.model_error or self.live_reason
        self.tooltip = plain(why) if why else None

    def _ollama(self) -> list[Content]:
        model = (
            [Content(" "), plain(self.session.model_name)]
            if self.session is not None and self.session.model_name
            else []
        )
        if self.ollama == OLLAMA_DOWN:
            return [Content("Ollama "), _mark(False), Content.styled(" not answering", "$error")]
        if self.ollama == OLLAMA_MODEL_ERROR:
            warn = Content.styled("●", "$warning")
            return [
                Content("Ollama "),
                warn,
                *model,
                Content.styled(" model error", "$text-warning"),
            ]
        if self.ollama == OLLAMA_CHECKING:
            return [Content("Ollama "), _mark(None), Content(" checking…")]
        return [Content("Ollama "), _mark(True), *model]


def _mark(ok: bool | None) -> Content:
    if ok is None:
        return Content.styled("○", "$text-muted")
    return Content.styled("●", "$success" if ok else "$error")
