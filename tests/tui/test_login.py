"""Logging in from the TUI: first run, later runs, a login that no longer holds, no keyring."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Tabs

from storyterm.core.runtime import Runtime
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.login import LoginScreen
from tests.helpers import MemoryKeyring, login_as, password_for
from tests.tui.helpers import login_form, make_app, ready, wait_until

SIZE = (120, 36)


def notifications(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


async def test_first_run_creates_an_account_with_the_os_login_prefilled(
    fresh_runtime: Runtime, memory_keyring: MemoryKeyring
) -> None:
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one(Tabs).active == "register")
        assert screen.query_one("#username", Input).value == "alice"
        await wait_until(pilot, lambda: app.focused is screen.query_one("#password", Input))
        assert app.startup_seconds is not None  # the login screen counts as ready
        # Passwords that differ are caught before anything is sent.
        await pilot.press(*"a long enough secret", "enter")
        await pilot.press(*"a long enough secreT", "enter")
        await wait_until(pilot, lambda: screen.query_one("#error").has_class("-shown"))
        assert "not the same" in str(screen.query_one("#error").visual)
        await pilot.press(*"a long enough secret", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        await wait_until(pilot, lambda: main.booted)
        assert app.username == "alice"
        assert "Welcome, alice." in notifications(app)
    # The login is kept in the keyring: the next run goes straight in.
    assert any(key[0].startswith("storyterm:") for key in memory_keyring.passwords)
    again = make_app(fresh_runtime.__class__(fresh_runtime.settings))
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert isinstance(again.screen, MainScreen) and again.username == "alice"
    again.runtime.close()


async def test_a_taken_username_or_a_wrong_password_keeps_the_form(
    fresh_runtime: Runtime,
) -> None:
    login_as(fresh_runtime, "alice")
    fresh_runtime.tokens.clear()
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        screen = await login_form(pilot, app)
        await pilot.press(*"a long enough secret", "enter", *"a long enough secret", "enter")
        await wait_until(pilot, lambda: "is taken" in str(screen.query_one("#error").visual))
        assert "press ctrl+t to log in if it is yours" in str(screen.query_one("#error").visual)
        await pilot.press("ctrl+t")  # to "Log in"
        assert screen.query_one(Tabs).active == "login"
        assert not screen.query_one("#confirm-row").display
        screen.query_one("#password", Input).value = "not the password"
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: "Wrong username or password" in str(screen.query_one("#error").visual)
        )
        assert isinstance(app.screen, LoginScreen)
        assert screen.query_one("#username", Input).value == "alice"
        screen.query_one("#password", Input).value = password_for("alice")
        # Tab from the last field goes to "Log in", not to "Quit": Tab, Enter logs in.
        await pilot.press("tab")
        assert app.focused is screen.query_one("#go")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)


async def test_a_login_that_no_longer_holds_asks_to_log_in_again(
    fresh_runtime: Runtime,
) -> None:
    login_as(fresh_runtime, "alice")
    token = fresh_runtime.tokens.load()
    assert token
    fresh_runtime.identity.logout(token)  # revoked elsewhere; the keyring still has it
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        screen = app.screen
        await wait_until(pilot, lambda: screen.query_one(Tabs).active == "login")
        assert "logout" in str(screen.query_one("#reason").visual)


@pytest.mark.usefixtures("no_keyring")
async def test_without_a_keyring_a_line_says_the_login_lasts_this_run(
    fresh_runtime: Runtime,
) -> None:
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await login_form(pilot, app)
        note = str(app.screen.query_one("#keyring").visual)
        assert "no system keyring" in note and "this run only" in note
        await pilot.press(*"a long enough secret", "enter", *"a long enough secret", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
        assert any("lasts until you quit" in m for m in notifications(app))


async def test_log_out_from_the_palette_shows_the_login_screen(runtime: Runtime) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title.startswith("Log out")
        )
        command.callback()
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert runtime.tokens.load() is None
        # The notice is a message of its own: it may arrive a moment after the login screen.
        await wait_until(pilot, lambda: "Logged out alice." in notifications(app))


async def test_a_saved_login_that_fails_the_full_check_after_the_first_frame_is_dropped(
    fresh_runtime: Runtime,
) -> None:
    """The first frame reads the login without PyJWT (start-up stays fast); PyJWT checks the
    signature right after, and a token altered by hand leaves nothing of its writer on screen."""
    import base64
    import json

    login_as(fresh_runtime, "alice")
    token = fresh_runtime.tokens.load()
    assert token
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["exp"] += 86400  # a day more, by hand: the signature no longer matches
    later = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    fresh_runtime.tokens.save(f"{head}.{later}.{signature}")
    runtime = Runtime(fresh_runtime.settings)  # a new process: the Store is not open yet
    app = make_app(runtime)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
            screen = app.screen
            await wait_until(pilot, lambda: screen.query_one(Tabs).active == "login")
            assert "signature" in str(screen.query_one("#reason").visual)
            main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
            assert not main.booted and app.user_id is None and app.username is None
            screen.query_one("#username", Input).value = "alice"
            screen.query_one("#password", Input).value = password_for("alice")
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and main.booted)
            assert app.username == "alice"
    finally:
        runtime.close()


async def test_a_login_gone_from_the_keyring_ends_the_frame_its_hint_showed(
    fresh_runtime: Runtime,
) -> None:
    """The first frame comes from the login hint (keyring loads after it); the keyring's entry
    removed by another tool leaves nothing of its writer on screen once the keyring is read."""
    import keyring

    login_as(fresh_runtime, "alice")
    keyring.delete_password(fresh_runtime.tokens.service, fresh_runtime.tokens.USERNAME)
    runtime = Runtime(fresh_runtime.settings)  # a new process: the Store is not open yet
    app = make_app(runtime)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
            screen = app.screen
            await wait_until(pilot, lambda: screen.query_one(Tabs).active == "login")
            assert "no longer in the system keyring" in str(screen.query_one("#reason").visual)
            main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
            await wait_until(pilot, lambda: app.user_id is None)
            assert not main.booted and app.username is None
    finally:
        runtime.close()


@pytest.mark.parametrize("way", ["click", "ctrl+q"])
async def test_the_quit_button_quits_by_mouse_and_ctrl_q(fresh_runtime: Runtime, way: str) -> None:
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await login_form(pilot, app)
        if way == "click":
            await pilot.click("#quit")
        else:
            await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app._exit)
