"""The story's sampling options on the model screen (`m`), key by key: shown with their
defaults, edited with a message for a value the core would refuse, saved (and sent to Ollama
with the next part), reset by emptying, and Esc leaves them as they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from storyterm.core.memory.state import OPTIONS
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.model import ModelScreen
from storyterm.tui.widgets.sampling_form import SamplingForm
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id
from tests.tui.test_snapshots import then

SIZE = (80, 24)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest", "mistral-small3.1:latest"], tokens=8) as server:
        yield server


@pytest.fixture
def writing(runtime: Runtime, fake: FakeOllama) -> Runtime:
    runtime.settings.ollama_host = fake.url
    runtime.settings.temperature = 0.6  # a default from the settings
    return runtime


async def open_model_screen(pilot: Pilot[Any]) -> ModelScreen:
    await pilot.press("escape", "m")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ModelScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ModelScreen)
    models = screen.query_one("OptionList")
    await wait_until(pilot, lambda: models.option_count == 2)
    return screen


def field(screen: ModelScreen, name: str) -> Input:
    return screen.query_one(f"#option-{name}", Input)


async def type_into(pilot: Pilot[Any], widget: Input, text: str) -> None:
    widget.focus()
    await pilot.pause()
    await pilot.press("ctrl+a", "ctrl+k", *text)  # the input's own keys: home, kill to end


def stored(runtime: Runtime, sid: str) -> dict[str, Any]:
    return runtime.sessions.get(writer_id(runtime), sid).memory.get(OPTIONS, {})


async def test_options_edited_on_the_model_screen_are_saved_and_sent_to_ollama(
    writing: Runtime, fake: FakeOllama
) -> None:
    sid = seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        # The story sets nothing yet: every input is empty and shows the default it uses.
        assert field(screen, "temperature").value == ""
        assert field(screen, "temperature").placeholder == "default: 0.6"
        assert field(screen, "seed").placeholder == "default: a new one each time"
        await type_into(pilot, field(screen, "temperature"), "1.3")
        await type_into(pilot, field(screen, "seed"), "42")
        help_line = str(screen.query_one("#sampling-help", Static).visual)
        assert help_line.startswith("Seed: the same seed and prompt give the same part again")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(pilot, lambda: stored(writing, sid) == {"temperature": 1.3, "seed": 42})
        main = app.screen
        assert isinstance(main, MainScreen)
        await wait_until(pilot, lambda: main.session.memory.get(OPTIONS) == stored(writing, sid))

        main.query_one("DirectionInput").focus()
        await pilot.press(*"The tide turns", "enter")
        await wait_until(pilot, lambda: main.session.part_count == 2 and not main.generating)
        options = fake.chat_requests[-1].body["options"]
        assert (options["temperature"], options["seed"]) == (1.3, 42)

        # Back on the screen, the story's own values are in the inputs.
        screen = await open_model_screen(pilot)
        assert field(screen, "temperature").value == "1.3"
        assert field(screen, "seed").value == "42"


async def test_a_refused_value_is_explained_and_nothing_is_saved(writing: Runtime) -> None:
    sid = seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        await type_into(pilot, field(screen, "top_k"), "12")
        await type_into(pilot, field(screen, "temperature"), "5")
        error = screen.query_one("#sampling-error", Static)
        await wait_until(pilot, lambda: error.has_class("-shown"))
        assert str(error.visual) == "Temperature must be a number from 0 to 2 (got '5')."
        field(screen, "top_k").focus()
        await pilot.press("ctrl+s")  # refused: the screen stays, the cursor on the bad value
        await pilot.pause()
        assert app.screen is screen and app.focused is field(screen, "temperature")
        await type_into(pilot, field(screen, "temperature"), "nan")
        assert "(got 'nan')" in str(error.visual)
        await pilot.press("enter")  # Enter in an option saves too: refused the same way
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")  # cancels: nothing at all is kept
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.pause()
        assert stored(writing, sid) == {}


async def test_emptying_an_input_goes_back_to_the_default(writing: Runtime) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=1)
    writing.sessions.set_options(alice, sid, {"temperature": 1.2, "top_p": 0.9})
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        assert field(screen, "temperature").value == "1.2"
        await type_into(pilot, field(screen, "temperature"), "")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(pilot, lambda: stored(writing, sid) == {"top_p": 0.9})


async def test_picking_a_model_saves_the_options_edited_with_it(writing: Runtime) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        await type_into(pilot, field(screen, "num_predict"), "400")
        screen.query_one("OptionList").focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(
            pilot,
            lambda: writing.sessions.get(alice, sid).model_name == "mistral-small3.1:latest",
        )
        assert stored(writing, sid) == {"num_predict": 400}


async def test_the_form_fits_an_80_by_24_terminal(writing: Runtime) -> None:
    seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        form = screen.query_one(SamplingForm)
        for widget in [*form.query(Input), screen.query_one("#sampling-help")]:
            region = widget.region
            assert region.height >= 1 and region.bottom <= 24 and region.right <= 80, widget


# -- the look ---------------------------------------------------------------------------------


def _story_with_options(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "The Keeper's Letter", parts=2, words_per_part=40)
    runtime.sessions.set_options(alice, sid, {"temperature": 1.1, "top_k": 40, "seed": 7})


def test_model_screen_with_options_80x24(writing: Runtime, snap_compare: Any) -> None:
    """The story's own values in their inputs, the defaults as placeholders, the focused
    option explained under the form."""
    _story_with_options(writing)

    async def edit(pilot: Pilot[Any]) -> None:
        screen = await open_model_screen(pilot)
        field(screen, "repeat_penalty").focus()

    assert snap_compare(make_app(writing), terminal_size=(80, 24), run_before=then(edit))


def test_model_screen_with_a_refused_value_160x48(writing: Runtime, snap_compare: Any) -> None:
    _story_with_options(writing)

    async def refuse(pilot: Pilot[Any]) -> None:
        screen = await open_model_screen(pilot)
        await type_into(pilot, field(screen, "top_p"), "0")
        await pilot.press("ctrl+s")

    assert snap_compare(make_app(writing), terminal_size=(160, 48), run_before=then(refuse))
