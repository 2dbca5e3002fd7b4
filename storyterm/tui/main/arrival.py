"""What the boot found, on the main screen: the first screenful of a known writer, the login
screen's place, a database that could not be opened, and nothing left of a writer who went.

Boot (boot.py) finds the writer and answers with messages; the screen hands them here, and
Arrival puts them on the widgets. The open session stays the screen's: the first story is shown
through the screen's own `show_opened`, and a writer who leaves is forgotten by the screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from storyterm.errors import DatabaseUnavailable
from storyterm.tui.widgets.story_notes import NO_STORIES, could_not_open

if TYPE_CHECKING:
    from textual.screen import Screen

    from storyterm.core.views import OpenedSession
    from storyterm.tui.host import HostApp
    from storyterm.tui.main.boot import Boot
    from storyterm.tui.main.changes import StoryChanges
    from storyterm.tui.main.panes import Panes
    from storyterm.tui.messages import Booted, BootFailed, NeedLogin


class Arrival:
    """Shows the writer's first screenful, or why there is none, on the screen `host`."""

    def __init__(
        self,
        host: Screen[None],
        app: HostApp,
        boot: Boot,
        panes: Panes,
        changes: StoryChanges,
        show_opened: Callable[[OpenedSession], Awaitable[bool]],
    ) -> None:
        self._host = host
        self._app = app
        self._runtime = app.runtime
        self._boot = boot
        self._panel = panes.panel
        self._column = panes.column
        self._status_bar = panes.status_bar
        self._title_bar = panes.title_bar
        self._changes = changes
        #: Shows a story with the session (the screen's), True when the input took the keys.
        self._show_opened = show_opened

    def start(self) -> None:
        """Open the database and find the writer, then the first page and the newest story."""
        if self._boot.start():
            self._status_bar.database_ok = None

    def need_login(self, event: NeedLogin) -> None:
        bar = self._status_bar
        bar.database, bar.database_ok = self._runtime.database_backend, True
        self._panel.focus_list()  # where the writer lands when the login screen closes
        self._boot.ask_login(event, self._app.last_username)
        self._host.call_after_refresh(self._app.mark_ready, 0, "login")

    async def booted(self, event: Booted) -> None:
        self._boot.arrived()
        self._title_bar.user = event.account.username
        bar = self._status_bar
        bar.database, bar.database_ok, bar.cache = event.database, True, event.cache
        self._panel.show_page(
            event.page.items, reset=True, cursor=event.page.next_cursor, total=event.total
        )
        focused = False
        if event.opened is not None:
            focused = await self._show_opened(event.opened)
        else:
            await self._column.story.clear(NO_STORIES)
        if not focused and self._host.focused is None:
            self._panel.focus_list()
        self._host.call_after_refresh(self._ready)

    def _ready(self) -> None:
        """The list and the newest story are on screen: stop the clock, then do the rest."""
        app = self._app
        app.mark_ready(self._panel.loaded_count, "main")
        self._boot.typed.replay(app)  # keys typed while the stories were being read
        self._boot.confirm()
        if self._status_bar.keep_checking():  # the first time only
            self._column.warm(freeze=app.freezes_long_lived)
        self._status_bar.check()
        if app.user_id is not None:  # changes made in other windows, from now on
            self._changes.live.start(app.user_id)

    async def failed(self, event: BootFailed) -> None:
        self._boot.failed()
        self._boot.typed.take()  # typed blind before an error: not taken as commands
        if isinstance(event.error, DatabaseUnavailable):
            self._status_bar.database_ok = False
        await self._column.story.clear(could_not_open(event.error.message))
        if self._host.focused is None:
            self._panel.focus_list()
        self._app.report_error(event.error)

    def required(self) -> bool:
        """True when the screen can act; otherwise start (or wait for) the boot and say so."""
        if self._boot.booted:
            return True
        if self._boot.booting:
            self._host.notify("Still opening your stories: one moment.", markup=False)
        else:
            self._host.notify("Trying the database again…", markup=False)
            self.start()
        return False

    async def forget(self, note: str, reason: str | None = None) -> None:
        """Nothing of the writer stays on screen (the screen drops the open session); the
        login screen follows (NeedLogin)."""
        self._boot.forget(reason)
        self._changes.stop_listening()
        self._title_bar.user = None
        self._panel.show_page([], reset=True)
        await self._column.forget(note)
