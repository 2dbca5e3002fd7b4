"""Keys that arrive in one burst (a fast typist, a paste, tmux send-keys) go where they were
typed: a Tab in the burst moves the focus before the keys after it are handed on."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from storyterm.core.runtime import Runtime
from tests.tui.helpers import make_app, wait_until


def _burst(app: object, text: str) -> None:
    """Queue every key at once, as the terminal driver does with one read of a burst."""
    for char in text:
        if char == "\t":
            app.post_message(events.Key("tab", None))  # type: ignore[attr-defined]
        else:
            app.post_message(events.Key(char, char))  # type: ignore[attr-defined]


async def test_a_burst_with_tabs_fills_each_field_of_the_new_account_form(
    fresh_runtime: Runtime,
) -> None:
    app = make_app(fresh_runtime)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.screen.query("#password"))
        password = app.screen.query_one("#password", Input)
        await wait_until(pilot, lambda: password.has_focus)
        _burst(app, "longpassword1\tlongpassword1")
        await wait_until(pilot, lambda: len(app.screen.query_one("#confirm", Input).value) == 13)
        assert password.value == "longpassword1"
        assert app.screen.query_one("#confirm", Input).value == "longpassword1"


def test_the_main_screen_holds_keys_from_before_its_mount(fresh_runtime: Runtime) -> None:
    """Keys typed as storyterm launches are read with the first screenful: a Tab among them is
    acted on by the app at once, before the main screen's mount has begun the boot. The screen
    holds keys from the start, so that Tab waits in line with the letters around it (tried:
    "mara<Tab>pass<Tab>pass<Enter>" sent at launch filled the username with all of it)."""
    from storyterm.tui.main.screen import MainScreen

    assert MainScreen(fresh_runtime).holding_keys
