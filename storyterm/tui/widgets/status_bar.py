"""The status line: is Ollama answering, which database, is the Redis cache on."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from storyterm.tui.text import plain

#: Ollama states the screen sets: unknown until the first check after start-up.
OLLAMA_CHECKING = "checking"
OLLAMA_UP = "up"
OLLAMA_DOWN = "down"


class StatusBar(Static):
    """`Ollama ● gemma3 · db ● sqlite · cache ● redis`: green is fine, red needs the writer."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    ollama: reactive[str] = reactive(OLLAMA_CHECKING)
    #: The model the open story uses (shown next to Ollama's mark).
    model: reactive[str | None] = reactive(None)
    #: "sqlite" / "postgresql" once connected; None while opening.
    database: reactive[str | None] = reactive(None)
    database_ok: reactive[bool | None] = reactive(None)
    #: "online" / "offline" / "disabled" (core.cache.CacheState values).
    cache: reactive[str | None] = reactive(None)

    def render(self) -> Content:
        def mark(ok: bool | None) -> Content:
            if ok is None:
                return Content.styled("○", "$text-muted")
            return Content.styled("●", "$success" if ok else "$error")

        ollama_ok = {OLLAMA_UP: True, OLLAMA_DOWN: False}.get(self.ollama)
        ollama: list[Content] = [Content("Ollama "), mark(ollama_ok)]
        if self.ollama == OLLAMA_DOWN:
            ollama.append(Content.styled(" not answering", "$error"))
        elif self.ollama == OLLAMA_CHECKING:
            ollama.append(Content(" checking…"))
        elif self.model:
            ollama += [Content(" "), plain(self.model)]

        if self.database is None and self.database_ok is None:
            db = [Content("db "), mark(None), Content(" opening…")]
        elif self.database_ok is False:
            db = [Content("db "), mark(False), Content.styled(" unreachable", "$error")]
        else:
            db = [Content("db "), mark(True), Content(f" {self.database}")]

        if self.cache is None:
            cache = [Content("cache "), mark(None)]
        elif self.cache == "online":
            cache = [Content("cache "), mark(True), Content(" redis")]
        elif self.cache == "offline":
            cache = [Content("cache "), Content.styled("●", "$warning"), Content(" offline")]
        else:
            cache = [Content("cache "), mark(None), Content(" off")]

        sep = Content.styled("  ·  ", "$text-muted 50%")
        return Content.assemble(*ollama, sep, *db, sep, *cache)
