"""What a screen may ask of the app it runs in, as a protocol: screens never import app.py.

The app imports the main screen to show it; if the screens imported the app back (even only
for their annotations) the two would be one import circle. They annotate `app` with HostApp
instead, and app.py has the type checker confirm that StorytermApp is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from textual.app import App

    from storyterm.core.runtime import Runtime
    from storyterm.errors import StorytermError
    from storyterm.tui.models import ModelChoice


class Host(Protocol):
    """The app as its screens see it. Who is writing is read-only here: the app sets it
    itself, from the Authenticated, LoggedOut and LoginRefused messages."""

    runtime: Runtime
    #: The app is closing: screens open nothing more.
    quitting: bool
    #: Whether this process freezes what lives as long as the app (see StorytermApp).
    freezes_long_lived: bool

    @property
    def user_id(self) -> int | None: ...

    @property
    def username(self) -> str | None: ...

    @property
    def writer_id(self) -> int:
        """`user_id` for work that needs a writer: AuthError when nobody is logged in."""
        ...

    @property
    def last_username(self) -> str | None: ...

    def now(self) -> datetime: ...

    def report_error(self, error: StorytermError, hint: str = "") -> None:
        """Show `error`'s message, then `hint` (a key of the screen it happened on)."""
        ...

    def report_unexpected(self, error: BaseException, where: str = "the TUI") -> str:
        """Log an error nobody expected and tell the writer in one line (returned)."""
        ...

    async def model_choice(self, preferred: str | None = None) -> ModelChoice: ...

    def mark_ready(self, sessions_loaded: int, screen: str = "main") -> None: ...


if TYPE_CHECKING:

    class HostApp(App[None], Host):
        """For annotations only: a Textual app that is also a Host."""
