"""The one-line header: which story is open, on which model, and who is writing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label

from storyterm.tui.text import plain

if TYPE_CHECKING:
    from storyterm.core.views import Session


class TitleBar(Horizontal):
    """`storyterm — The Keeper's Letter · gemma3:latest` on the left, the writer on the right."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
        #title { width: 1fr; text-overflow: ellipsis; text-wrap: nowrap; }
        #user { width: auto; color: $text-muted; }
    }
    """

    #: The open session (data-bound from the screen): its title and model.
    session: reactive[Session | None] = reactive(None, init=False)
    user: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        yield Label(id="title")
        yield Label(id="user")

    def on_mount(self) -> None:
        self._refresh_title()
        self.watch_user(self.user)

    def _refresh_title(self) -> None:
        parts: list[Content] = [Content.styled("storyterm", "bold $accent")]
        session = self.session
        if session is not None and session.title:
            parts += [Content(" — "), plain(session.title, "bold")]
            if session.model_name:
                parts += [Content(" · "), plain(session.model_name, "$text-muted")]
        self.query_one("#title", Label).update(Content.assemble(*parts))

    def watch_session(self) -> None:
        if self.is_mounted:
            self._refresh_title()

    def watch_user(self, user: str | None) -> None:
        if self.is_mounted:
            self.query_one("#user", Label).update(plain(user) if user else Content(""))
