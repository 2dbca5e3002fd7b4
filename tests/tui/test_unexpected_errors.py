"""An error nobody expected (a bug, a module that will not load) is told in one line that names
the log file, the traceback goes to that file, and the app stays usable."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input

from storyterm.core.identity.accounts import IdentityService
from storyterm.core.runtime import Runtime
from storyterm.tui.error_log import log_path
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.help import HelpScreen
from storyterm.tui.screens.login import LoginScreen
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)
PASSWORD = "a long enough secret"


def errors_told(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications if n.title == "Unexpected error"]


def the_log(runtime: Runtime) -> Path:
    return log_path(runtime.settings.state_dir)


def one_line_naming_the_log(message: str, runtime: Runtime) -> bool:
    return "\n" not in message and "Traceback" not in message and str(the_log(runtime)) in message


async def test_a_bug_while_creating_an_account_is_told_and_the_form_works_again(
    fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, unexpected_errors: list[BaseException]
) -> None:
    real_register = IdentityService.register
    broken = True

    def register(self: IdentityService, username: str, password: str) -> object:
        if broken:
            raise RuntimeError("the identity module is half replaced")
        return real_register(self, username, password)

    monkeypatch.setattr(IdentityService, "register", register)
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        screen = app.screen
        await wait_until(pilot, lambda: app.focused is screen.query_one("#password"))
        await pilot.press(*PASSWORD, "enter", *PASSWORD, "enter")
        await wait_until(pilot, lambda: errors_told(app))
        [told] = errors_told(app)
        assert told.startswith("Something went wrong (RuntimeError: the identity module")
        assert one_line_naming_the_log(told, fresh_runtime)
        # Said on the form too, which is ready for another try.
        await wait_until(pilot, lambda: screen.query_one("#error").has_class("-shown"))
        assert "RuntimeError" in str(screen.query_one("#error").visual)
        assert not screen.query_one("#go", Button).disabled
        logged = the_log(fresh_runtime).read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" in logged
        assert "RuntimeError: the identity module is half replaced" in logged
        broken = False  # the cause is gone: the same form, the same key
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
        assert app.username == "alice"
    assert [type(e) for e in unexpected_errors] == [RuntimeError]
    unexpected_errors.clear()


async def test_an_import_that_fails_in_a_key_handler_leaves_enter_and_ctrl_s_working(
    fresh_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, unexpected_errors: list[BaseException]
) -> None:
    real_submit = LoginScreen.action_submit
    tries = 0

    def submit(self: LoginScreen) -> None:
        nonlocal tries
        tries += 1
        if tries <= 2:  # the package changed under the running app, then was put back
            raise ImportError("cannot import name 'IdentityService'")
        real_submit(self)

    monkeypatch.setattr(LoginScreen, "action_submit", submit)
    app = make_app(fresh_runtime)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        screen = app.screen
        await wait_until(pilot, lambda: app.focused is screen.query_one("#password"))
        await pilot.press(*PASSWORD, "enter", *PASSWORD, "enter")  # Enter: a message handler
        await wait_until(pilot, lambda: len(errors_told(app)) == 1)
        await pilot.press("ctrl+s")  # ctrl+s: a key binding's action
        await wait_until(pilot, lambda: len(errors_told(app)) == 2)
        assert all(one_line_naming_the_log(m, fresh_runtime) for m in errors_told(app))
        assert "ImportError: cannot import name 'IdentityService'" in errors_told(app)[0]
        assert screen.query_one("#confirm", Input).value == PASSWORD  # nothing typed is lost
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.booted)
    assert "ImportError" in the_log(fresh_runtime).read_text(encoding="utf-8")
    assert [type(e) for e in unexpected_errors] == [ImportError, ImportError]
    unexpected_errors.clear()


async def test_a_bug_in_a_main_screen_action_keeps_the_app_running(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, unexpected_errors: list[BaseException]
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2)

    def broken_zen(self: MainScreen) -> None:
        raise RuntimeError("zen is broken")

    monkeypatch.setattr(MainScreen, "action_zen", broken_zen)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "z")
        await wait_until(pilot, lambda: errors_told(app))
        [told] = errors_told(app)
        assert told.startswith("Something went wrong (RuntimeError: zen is broken).")
        assert one_line_naming_the_log(told, runtime) and told.endswith("press F5 to reload.")
        assert app.is_running
        await pilot.press("z")  # the same key again: told again, not dead
        await wait_until(pilot, lambda: len(errors_told(app)) == 2)
        await pilot.press("question_mark")  # and the other keys work
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
    assert the_log(runtime).read_text(encoding="utf-8").count("RuntimeError: zen is broken") >= 2
    assert [type(e) for e in unexpected_errors] == [RuntimeError, RuntimeError]
    unexpected_errors.clear()
