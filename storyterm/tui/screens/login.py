"""Create an account or log in: the first screen of a first run, and after a login ends."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from storyterm.core.basics import PASSWORD_MAX, USERNAME_MAX
from storyterm.errors import AuthError, NameTaken, StorytermError, WrongCredentials
from storyterm.tui.typeahead import TypeAhead
from storyterm.tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from storyterm.core.identity.accounts import Account
    from storyterm.tui.host import HostApp

REGISTER = "register"
LOGIN = "login"


@dataclass(frozen=True)
class LoginResult:
    """Who logged in, and whether the login was kept in the keyring (False: this run only)."""

    account: Account
    kept: bool


def os_username() -> str:
    """The OS login name, offered as the username of a new account."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""


class LoginScreen(ModalScreen[LoginResult]):
    """Create an account (username prefilled from the OS login) or log in; dismisses with the
    account once a token is issued and kept."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Go", priority=True),
        Binding("ctrl+t", "switch", "Create account / Log in"),
    ]

    class Done(Message):
        def __init__(self, result: LoginResult) -> None:
            super().__init__()
            self.result = result

    class Failed(Message):
        def __init__(self, error: StorytermError) -> None:
            super().__init__()
            self.error = error

    app: HostApp

    def __init__(
        self,
        *,
        mode: str = REGISTER,
        reason: str | None = None,
        keyring_note: str | None = None,
        username: str | None = None,
        typed: list[events.Key] | None = None,
    ) -> None:
        super().__init__(classes="form-screen")
        self.mode = mode
        self.reason = reason
        self.keyring_note = keyring_note
        self.username = username
        #: Keys typed before the form could take them (`typed`: before this screen was up),
        #: typed into it once its first field has the focus.
        self._typed = TypeAhead(typed)
        self._taking_keys = False

    def compose(self) -> ComposeResult:
        with Vertical(id="form", classes="form login"):
            yield Tabs(Tab("Create account", id=REGISTER), Tab("Log in", id=LOGIN))
            # The reason scrolls with the fields: at 80x24 the notes can be taller than the
            # room between the tabs and the buttons (both docked, so always in sight).
            with Vertical(classes="fields"):
                if self.reason:
                    yield Static(Content(self.reason), id="reason", classes="note")
                with Horizontal(classes="field-row"):
                    yield Label("Username", classes="required")
                    yield SafeInput(
                        self.username or (os_username() if self.mode == REGISTER else ""),
                        id="username",
                        max_length=USERNAME_MAX,
                        compact=True,
                    )
                with Horizontal(classes="field-row"):
                    yield Label("Password", classes="required")
                    # Not selected on focus, like every field here (SafeInput): keys typed ahead
                    # land in it before its focus is told, and must not be replaced then.
                    yield Input(
                        password=True,
                        id="password",
                        max_length=PASSWORD_MAX,
                        compact=True,
                        select_on_focus=False,
                    )
                with Horizontal(classes="field-row", id="confirm-row"):
                    yield Label("Again", classes="required")
                    yield Input(
                        password=True,
                        id="confirm",
                        max_length=PASSWORD_MAX,
                        compact=True,
                        select_on_focus=False,
                    )
                yield Static(id="hint", classes="note -info")
                if self.keyring_note:
                    yield Static(Content(self.keyring_note), id="keyring", classes="note")
            yield Static(id="error", classes="error")
            with Horizontal(classes="buttons"):
                # Out of the Tab order: Tab from the last field, then Enter, logs in (a
                # writer who means to quit has ctrl+q, named on the button, or the mouse).
                quit_button = Button("Quit (ctrl+q)", id="quit")
                quit_button.can_focus = False
                yield quit_button
                yield Button("Create account", id="go", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#form").border_title = "Welcome to storyterm"
        self._apply_mode()
        if self.mode != REGISTER:
            # Tabs mounts its tabs after this screen's mount: switch once they exist.
            self.call_after_refresh(setattr, self.query_one(Tabs), "active", self.mode)
        self.call_after_refresh(self._take_keys)

    @property
    def holding_keys(self) -> bool:
        """The form is not ready: keys typed wait for its field (TypeAhead)."""
        return not self._taking_keys

    def on_key(self, event: events.Key) -> None:
        """A key no field took before the form is ready: kept for the field (TypeAhead)."""
        if self.holding_keys:
            self._typed.hold(event)

    def _take_keys(self, tries: int = 0) -> None:
        """Once the form shows its tab, put the cursor in its field and type the keys held so
        far into it. No field has the cursor before: a key typed then would go into the field
        ahead of the ones held."""
        shown = self.query_one(Tabs).active
        if shown and shown != self.mode and tries > 0:
            # Tabs' own first activation can be told after the switch to this screen's tab:
            # the form follows the tab the writer sees.
            self.mode = shown
            self._apply_mode()
        if shown != self.mode and tries < 20:
            self.call_after_refresh(self._take_keys, tries + 1)
            return
        self._taking_keys = True
        username = self.query_one("#username", Input)
        if self._typed.keys and self.mode == REGISTER:
            # A first run: what was typed before the form showed is the writer's name, not
            # the OS login suggested in its place (there is no password to type yet). A
            # returning writer's keys go where the form put the cursor: the password, masked.
            username.value = ""
        self.set_focus(self._first_field())  # now, before the first key is replayed
        self._typed.replay(self.app)

    def _first_field(self) -> Input:
        """Where the cursor starts: the username, else (a name is there) the password."""
        username = self.query_one("#username", Input)
        return self.query_one("#password", Input) if username.value else username

    def _apply_mode(self) -> None:
        registering = self.mode == REGISTER
        self.query_one("#confirm-row").display = registering
        self.query_one("#go", Button).label = "Create account" if registering else "Log in"
        hint = (
            "At least 8 characters; a few words in a row make a good password. "
            "ctrl+t: log in to an existing account instead."
            if registering
            else "ctrl+t: create a new account instead."
        )
        self.query_one("#hint", Static).update(Content(hint))
        if self._taking_keys:  # else the cursor goes in once the held keys can follow it
            self._first_field().focus()

    @on(Tabs.TabActivated)
    def _tab(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if event.tab.id != self.query_one(Tabs).active:
            return  # stale: Tabs' own first activation, told after the switch to this tab
        if event.tab.id and event.tab.id != self.mode:
            self.mode = event.tab.id
            self._hide_error()
            self._apply_mode()

    def action_switch(self) -> None:
        self.query_one(Tabs).active = LOGIN if self.mode == REGISTER else REGISTER

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        order = ["username", "password"] + (["confirm"] if self.mode == REGISTER else [])
        empty = next((name for name in order if not self.query_one(f"#{name}", Input).value), None)
        if empty is not None and event.input.id != order[-1]:
            self.query_one(f"#{empty}", Input).focus()
            return
        self.action_submit()

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit()

    def action_submit(self) -> None:
        username = self.query_one("#username", Input).value
        password = self.query_one("#password", Input).value
        if self.mode == REGISTER and password != self.query_one("#confirm", Input).value:
            self._show_error("The two passwords are not the same. Type them again.")
            self.query_one("#confirm", Input).value = ""
            self.query_one("#confirm", Input).focus()
            return
        self.query_one("#go", Button).disabled = True
        self._authenticate(self.mode, username, password)

    @work(thread=True, exclusive=True, group="login", exit_on_error=False)
    def _authenticate(self, mode: str, username: str, password: str) -> None:
        """Hash and check off the event loop: argon2 takes a noticeable moment on purpose."""
        runtime = self.app.runtime
        try:
            if mode == REGISTER:
                runtime.identity.register(username, password)
            account, token = runtime.identity.login(username, password)
            previous = runtime.tokens.load()
            if previous and previous != token:
                # Switching accounts: the replaced login must not live on unseen.
                runtime.identity.logout(previous)
            kept = runtime.tokens.save(token)
        except StorytermError as exc:
            self.post_message(self.Failed(exc))
        else:
            self.post_message(self.Done(LoginResult(account, kept)))

    @on(Done)
    def _done(self, event: Done) -> None:
        self.dismiss(event.result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Not a StorytermError (a bug, a module that will not load): logged and told, and the
        # form is ready for another try.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            text = self.app.report_unexpected(event.worker.error, where="logging in")
            self.query_one("#go", Button).disabled = False
            self._show_error(text)
            self.query_one("#password", Input).focus()

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self.query_one("#go", Button).disabled = False
        error = event.error
        message = error.message
        if isinstance(error, WrongCredentials) and self.mode == LOGIN:
            # The core's message names no way to make an account: this screen has its own.
            message += " No account yet? Press ctrl+t to create one."
        elif isinstance(error, NameTaken):
            # The core's message names the command line's way in: this screen has its own.
            message = NameTaken(error.username, "press ctrl+t to log in").message
        self._show_error(message)
        password = self.query_one("#password", Input)
        if isinstance(error, AuthError):
            # A refused password is of no more use: the next try starts from an empty field.
            password.value = ""
            self.query_one("#confirm", Input).value = ""
        password.focus()

    def _show_error(self, text: str) -> None:
        error = self.query_one("#error", Static)
        error.update(Content(text))
        error.add_class("-shown")

    def _hide_error(self) -> None:
        self.query_one("#error", Static).remove_class("-shown")
