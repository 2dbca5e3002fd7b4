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


async def test_a_burst_into_the_direction_input_keeps_its_line_break_and_its_enter_in_place(
    runtime: Runtime,
) -> None:
    """tmux send-keys "Mara" C-j "reads it" Enter "Next": the line break between the words
    (a binding acting once the key had bubbled up put it after them), and Enter sends what came
    before it; what came after stays in the input."""
    from storyterm.devtools.fake_ollama import FakeOllama
    from storyterm.tui.main.screen import MainScreen
    from storyterm.tui.widgets.direction import DirectionBar, DirectionInput
    from tests.tui.helpers import ready, seed_session, writer_id

    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=1)
    with FakeOllama(models=["gemma3:latest"], tokens=20) as fake:
        runtime.settings.ollama_host = fake.url
        app = make_app(runtime)
        async with app.run_test(size=(120, 36)) as pilot:
            await ready(pilot)
            screen = app.screen
            assert isinstance(screen, MainScreen) and isinstance(app.focused, DirectionInput)
            _burst(app, "Mara")
            app.post_message(events.Key("ctrl+j", "\n"))
            _burst(app, "reads it")
            app.post_message(events.Key("enter", "\r"))
            _burst(app, "Next")
            await wait_until(pilot, lambda: screen.session.part_count == 2)
            await wait_until(pilot, lambda: not screen.generating)
            assert runtime.sessions.open(alice, sid).parts[-1].direction == "Mara\nreads it"
            # Typed after Enter: new, so kept when the part was written.
            assert screen.query_one(DirectionBar).input.text == "Mara\nreads itNext"
