"""Keys typed right after launch, before the screen they are for is up, reach it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Input

from storyterm.core.runtime import Runtime
from storyterm.tui.app import StorytermApp
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.login import LoginScreen
from storyterm.tui.widgets.direction import DirectionInput
from tests.helpers import login_as, password_for
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


def held_boot(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The boot worker waits (as on a slow disk) until the returned event is set."""
    gate = threading.Event()
    original: Callable[..., Any] = runtime.current_account

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(runtime, "current_account", slow)
    return gate


def notifications(app: StorytermApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_username_typed_before_the_login_screen_is_up_reaches_its_field(
    fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = held_boot(fresh_runtime, monkeypatch)
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        # Typed at once, while the app is still finding out who is writing (m and r are main
        # screen keys: they must not act there), on to the password fields.
        secret = password_for("mara")
        await pilot.press(*"mara", "tab", *secret[:5])
        assert not isinstance(app.screen, LoginScreen)
        gate.set()
        await wait_until(pilot, lambda: app.screen.query_one("#password", Input).value)
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        # The name typed replaces the OS login the form suggests ("alice" here), and what
        # followed the tab went to the next field.
        username, password = screen.query_one("#username", Input), screen.query_one("#password")
        await wait_until(pilot, lambda: password.value == secret[:5])
        assert username.value == "mara"
        assert app.focused is password
        # Typing on continues where the held keys left off, and the account is made.
        await pilot.press(*secret[5:], "tab", *secret, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
        assert app.username == "mara"
        assert not any("Still opening" in m for m in notifications(app))


async def test_a_returning_writers_early_keys_go_to_the_password_masked(
    fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(fresh_runtime, "mara")
    fresh_runtime.tokens.clear()  # logged out: the login screen, "Log in" as mara
    monkeypatch.setattr(StorytermApp, "last_username", property(lambda app: "mara"))
    gate = held_boot(fresh_runtime, monkeypatch)
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*password_for("mara"))
        gate.set()
        await wait_until(
            pilot,
            lambda: app.screen.query_one("#password", Input).value == password_for("mara"),
        )
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        assert screen.query_one("#username", Input).value == "mara"  # never shown in clear
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
        assert app.username == "mara"


async def test_a_direction_typed_while_the_stories_load_reaches_the_input(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1)
    gate = held_boot(runtime, monkeypatch)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"She opens it")
        gate.set()
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        direction = screen.query_one(DirectionInput)
        await wait_until(pilot, lambda: direction.text == "She opens it")
        assert app.focused is direction
        assert not any("Still opening" in m for m in notifications(app))
