"""The login screen after a wrong password, and the name it offers: its own to each database."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, Tabs

from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.login import LoginScreen
from storyterm.tui.state import STATE_FILE, TuiState, database_key
from tests.helpers import login_as, password_for
from tests.tui.helpers import login_form, make_app, wait_until

SIZE = (120, 36)


async def test_a_wrong_password_is_cleared_and_the_screen_says_its_own_key(
    fresh_runtime: Runtime,
) -> None:
    login_as(fresh_runtime, "alice")
    fresh_runtime.tokens.clear()
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        screen = await login_form(pilot, app)
        password = screen.query_one("#password", Input)
        await pilot.press("ctrl+t")  # to "Log in"
        assert screen.query_one(Tabs).active == "login"
        password.focus()
        await pilot.press(*"not the password", "enter")
        error = screen.query_one("#error")
        await wait_until(pilot, lambda: "Wrong username or password" in str(error.visual))
        # The wrong password is gone and the cursor waits in its field for the next try.
        assert password.value == ""
        await wait_until(pilot, lambda: app.focused is password)
        assert screen.query_one("#username", Input).value == "alice"
        # The advice is this screen's own key, not a command for another front end.
        assert "Press ctrl+t to create one." in str(error.visual)
        assert "storyterm register" not in str(error.visual)
        await pilot.press(*password_for("alice"), "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)


async def register_in_the_app(runtime: Runtime, username: str) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        screen = await login_form(pilot, app)
        screen.query_one("#username", Input).value = username
        secret = password_for(username)
        await pilot.press(*secret, "enter", *secret, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
        await app.workers.wait_for_complete()  # the state file is written in a worker


async def login_screen_of(runtime: Runtime) -> tuple[str, str]:
    """The mode and the username the login screen opens with on `runtime`'s database."""
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        # Settled: the tab shown is the form's, and a field has the cursor.
        await wait_until(
            pilot,
            lambda: isinstance(app.focused, Input) and screen.query_one(Tabs).active == screen.mode,
        )
        return screen.query_one(Tabs).active, screen.query_one("#username", Input).value


async def test_the_remembered_username_belongs_to_its_database(
    fresh_runtime: Runtime, tmp_path: Path
) -> None:
    await register_in_the_app(fresh_runtime, "mara")
    # Another database, same machine and config folder: nobody has logged in to it here.
    other = Runtime(load_settings(database_url=f"sqlite:///{tmp_path / 'other.db'}"))
    try:
        # A first run there: "Create account" with the OS login, not mara from the other one.
        assert await login_screen_of(other) == ("register", "alice")
        await register_in_the_app(other, "tobias")
        other.tokens.clear()  # logged out: the login screen again
        assert await login_screen_of(other) == ("login", "tobias")
    finally:
        other.close()
    fresh_runtime.tokens.clear()
    assert await login_screen_of(fresh_runtime) == ("login", "mara")
    state = (fresh_runtime.settings.config_dir / STATE_FILE).read_text(encoding="utf-8")
    assert password_for("mara") not in state and password_for("tobias") not in state
    assert set(json.loads(state)["usernames"].values()) == {"mara", "tobias"}


def test_an_old_single_username_is_offered_until_one_is_remembered_per_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / STATE_FILE
    path.write_text(json.dumps({"theme": "nord", "last_username": "mara"}), encoding="utf-8")
    state = TuiState.load(path)
    assert state.username_for("sqlite:////a.db") == state.username_for("sqlite:////b.db") == "mara"
    assert state.remember_username("sqlite:////a.db", "mara")
    state.save(path)
    again = TuiState.load(path)
    assert again.theme == "nord"
    assert again.username_for("sqlite:////a.db") == "mara"
    assert again.username_for("sqlite:////b.db") is None  # no longer shared
    assert "last_username" not in json.loads(path.read_text(encoding="utf-8"))


def test_a_database_url_keeps_no_password_in_the_state_file() -> None:
    assert database_key("sqlite:////home/mara/stories.db") == "sqlite:////home/mara/stories.db"
    assert (
        database_key("postgresql://mara:s3cret@db.example:5432/stories?password=x&sslmode=on")
        == "postgresql://mara@db.example:5432/stories"
    )
    assert database_key("postgresql://:s3cret@db/stories") == "postgresql://@db/stories"
