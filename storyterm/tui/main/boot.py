"""Who is writing, and their first screenful: the saved login, the login screen, logging out.

Boot runs its workers on the main screen, shows the login screen when asked to, and otherwise
answers only with messages (tui/messages.py): Authenticated (which bubbles on to the app, the
owner of who is writing), Booted, NeedLogin, BootFailed, LoginRefused and LoggedOut. The screen
routes them onto its widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from storyterm.core.views import parse_status
from storyterm.errors import AuthError, StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import (
    Authenticated,
    Booted,
    BootFailed,
    LoggedOut,
    LoginRefused,
    NeedLogin,
    WorkFailed,
)
from storyterm.tui.typeahead import TypeAhead
from storyterm.tui.widgets.session_list import LIST_PAGE
from storyterm.tui.widgets.story_pages import TAIL

if TYPE_CHECKING:
    from textual.screen import Screen

    from storyterm.core.identity.accounts import Account
    from storyterm.core.runtime import Runtime
    from storyterm.tui.screens.login import LoginResult, LoginScreen


class Boot:
    """Finds the writer and reads the first page of their list and their newest story in one
    worker (the first frame waits for nothing else), shows the login screen when nobody is
    logged in, checks the saved login fully after the first frame, and logs out."""

    def __init__(
        self, screen: Screen[Any], runtime: Runtime, *, query: Callable[[], tuple[str, str]]
    ) -> None:
        #: Runs the workers, shows the login screen and receives the messages.
        self._screen = screen
        self._runtime = runtime
        #: The list's filter and search now: the first page is read for them.
        self._query = query
        #: A known writer's first page and story are on screen.
        self.booted = False
        #: A boot (or the first load after a login) is under way.
        self.booting = False
        #: Keys typed while it is: for the login form, or the main screen once it is ready.
        self.typed = TypeAhead()

    def _run(self, work: Callable[..., None], *args: Any, group: str = "boot") -> None:
        run_in_thread(self._screen, work, *args, group=group, exclusive=True)

    # -- start -----------------------------------------------------------------------------

    def start(self) -> bool:
        """Open the database and find the writer, then the first page (of the list as filtered
        now) and the newest story. False when a boot is already running."""
        if self.booting:
            return False
        self.booting = True
        self._run(self._boot, *self._query())
        return True

    def _boot(self, status: str, search: str) -> None:
        runtime = self._runtime
        post = self._screen.post_message
        try:
            if runtime.first_look() is None:
                runtime.sessions  # noqa: B018 - opens (and migrates) the database
            try:
                # Checked without PyJWT's import for the first frame; confirm() checks the
                # signature as soon as that frame is up.
                account = runtime.current_account(first_frame=True)
                reason = None
            except AuthError as exc:
                account, reason = None, exc.message
            if account is None:
                post(self._need_login(reason))
                return
            # Posted before the first page is read, so the app knows the writer before any
            # key (or worker) can ask for them.
            post(Authenticated(account))
            message = self._first_load(account, status, search)
        except StorytermError as exc:
            post(BootFailed(exc))
        else:
            post(message)

    def _first_load(self, account: Account, status: str, search: str) -> Booted:
        """The first page of the list and the newest story (in a worker thread): read with the
        standard library's sqlite3 while the Store is not open yet (the first start-up screen of
        a SQLite database, core/first_look.py), else through the Store."""
        runtime = self._runtime
        look = runtime.first_look()
        first = None
        if look is not None:
            first = look.first_screen(
                account.id,
                status=parse_status(status),
                search=search.strip() or None,
                limit=LIST_PAGE,
                tail=TAIL,
            )
        if first is not None:
            page, total, opened = first.page, first.total, first.opened
            # The Store (and Redis) open after the first frame: the status bar's cache probe
            # says how that went.
            database, cache = "sqlite", None
        else:
            sessions = runtime.sessions
            page = sessions.list(account.id, status=status, search=search, limit=LIST_PAGE)
            total = sessions.count(account.id, status=status, search=search)
            opened = sessions.open(account.id, page.items[0].id, tail=TAIL) if page.items else None
            database, cache = sessions.database_backend, str(sessions.cache_state)
        return Booted(
            account=account,
            database=database,
            cache=cache,
            page=page,
            total=total,
            opened=opened,
        )

    def arrived(self) -> None:
        """The screen shows the writer's first page (Booted)."""
        self.booting = False
        self.booted = True

    def failed(self) -> None:
        """The boot ended without a writer's stories (BootFailed, or a bug in its worker)."""
        self.booting = False

    # -- logging in ------------------------------------------------------------------------

    def _need_login(self, reason: str | None) -> NeedLogin:
        tokens = self._runtime.tokens
        return NeedLogin(reason, None if tokens.available else tokens.unavailable_reason)

    def ask_login(self, event: NeedLogin, known: str | None) -> None:
        """Show the login screen for `event`; `known` is who last logged in here (offered "Log
        in" with their name instead of a new account). The boot is over until it is answered."""
        self.booting = False
        self._screen.app.push_screen(self._login_screen(event, known), self._logged_in)

    def _login_screen(self, event: NeedLogin, known: str | None) -> LoginScreen:
        from storyterm.tui.screens.login import LOGIN, REGISTER, LoginScreen

        keyring_note = None
        if event.keyring_problem:
            keyring_note = (
                f"{event.keyring_problem}: your login lasts for this run only. To stay logged "
                "in, set STORYTERM_TOKEN (`storyterm login --print-token` prints one)."
            )
        return LoginScreen(
            mode=LOGIN if event.reason or known else REGISTER,
            reason=event.reason,
            keyring_note=keyring_note,
            username=known,
            typed=self.typed.take(),
        )

    def _logged_in(self, result: LoginResult | None) -> None:
        """The login screen's answer: welcome the writer and load their first page."""
        if result is None:
            return
        screen = self._screen
        account = result.account
        screen.post_message(Authenticated(account, remember=True))
        if result.kept:
            screen.notify(f"Welcome, {account.username}.", markup=False)
        else:
            screen.notify(
                f"Welcome, {account.username}. There is no system keyring here, so this login "
                "lasts until you quit.",
                severity="warning",
                timeout=10,
                markup=False,
            )
        self.booting = True
        self._run(self._load_for, account, *self._query())

    def _load_for(self, account: Account, status: str, search: str) -> None:
        try:
            message = self._first_load(account, status, search)
        except StorytermError as exc:
            self._screen.post_message(BootFailed(exc))
        else:
            self._screen.post_message(message)

    def confirm(self) -> None:
        """After the first frame: check the saved login completely (PyJWT: the signature too)."""
        self._run(self._confirm_login, group="confirm")

    def _confirm_login(self) -> None:
        try:
            self._runtime.confirm_login()
        except AuthError as exc:
            self._screen.post_message(LoginRefused(exc.message))
        except StorytermError as exc:
            self._screen.post_message(WorkFailed(exc))

    # -- logging out -----------------------------------------------------------------------

    def can_log_out(self) -> bool:
        """False, after telling the writer why, when the login is not one storyterm keeps."""
        if (self._runtime.settings.token or "").strip():
            self._screen.notify(
                "You are logged in with STORYTERM_TOKEN: unset it (and restart) to log out.",
                severity="warning",
                markup=False,
            )
            return False
        return True

    def logout(self, username: str) -> None:
        """Revoke the saved login and forget it here (LoggedOut follows)."""
        self._run(self._logout, username)

    def _logout(self, username: str) -> None:
        runtime = self._runtime
        try:
            token = runtime.tokens.load()
            if token:
                runtime.identity.logout(token)
            runtime.tokens.clear()
        except StorytermError as exc:
            self._screen.post_message(WorkFailed(exc))
        else:
            self._screen.post_message(LoggedOut(username))

    def forget(self, reason: str | None = None) -> None:
        """The writer is gone (logged out, or the saved login refused): ask for a login."""
        self.booted = False
        self._screen.post_message(self._need_login(reason))
