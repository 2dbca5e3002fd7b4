"""A model that thinks before it writes, in the TUI: the part's header says "thinking" and for
how long, the thinking never shows in the part, and `v` shows it apart from the story."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.context import ContextScreen
from storyterm.tui.widgets.part_view import PartHeader, PartView
from tests.tui.helpers import make_app, ready, screen_text, seed_session, wait_until, writer_id

SIZE = (120, 36)
THINKER = "qwen3:4b"


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    # Thinking for about two seconds (40 tokens at 20 a second), then a short part.
    models = [FakeModel(THINKER, thinks=True)]
    with FakeOllama(models=models, tokens=30, think_tokens=40, rate=20.0) as server:
        yield server


@pytest.mark.parametrize("in_text", [False, True], ids=["thinking-field", "think-tags"])
async def test_thinking_shows_as_thinking_with_its_time_and_never_in_the_part(
    writing: Runtime, fake: FakeOllama, in_text: bool
) -> None:
    fake.think_in_content = in_text
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", model=THINKER)
    writing.sessions.set_options(alice, sid, {"think": "on"})
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, lambda: screen.generating)
        view = screen.query_one("#part-1", PartView)
        header = view.query_one(PartHeader)
        # Thinking past a second: the header counts it.
        await wait_until(pilot, lambda: re.search(r"thinking · [1-9]\d*s", header.meta.plain))
        assert not view.shown_text.strip()  # nothing of the thinking is shown as the part
        text, _raw = screen_text(app)
        assert "thinking · " in text and "Let me think" not in text
        await wait_until(pilot, lambda: not screen.generating, timeout=20)
        part = writing.sessions.get_part(alice, sid, 1)
        assert str(part.state) == "done" and part.content.strip()
        assert "Let me think" not in part.content and "think>" not in part.content
        assert view.part.content == part.content
        text, _raw = screen_text(app)
        assert "Let me think" not in text

        # The context viewer shows the thinking, apart from the prompt.
        await pilot.press("escape", "v")
        await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen))
        roles = [str(s.visual) for s in app.screen.query(".role")]
        assert roles[-1].startswith("The model's thinking")
        messages = [str(s.visual) for s in app.screen.query(".message")]
        assert messages[-1].startswith("Let me think.")


async def test_thinking_is_set_on_the_model_screen_and_refused_for_a_model_that_cannot(
    writing: Runtime, fake: FakeOllama
) -> None:
    from storyterm.core.memory.state import OPTIONS
    from tests.tui.test_sampling import field, open_model_screen, type_into

    fake.models.append(FakeModel("gemma3:latest"))
    alice = writer_id(writing)
    plain = seed_session(writing, alice, "Salt Roads", model="gemma3:latest")
    app = make_app(writing)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        screen = await open_model_screen(pilot)
        think = field(screen, "think")
        assert think.placeholder == "default: off"
        await type_into(pilot, think, "on")
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: any("does not think" in n.message for n in app._notifications)
        )
        assert writing.sessions.get(alice, plain).memory.get(OPTIONS, {}) == {}

        # Switching to a model that thinks and asking for thinking, in one go, is kept.
        screen = await open_model_screen(pilot)
        await type_into(pilot, field(screen, "think"), "on")
        models = screen.query_one("OptionList")
        models.focus()
        index = next(
            i
            for i in range(models.option_count)
            if THINKER in str(models.get_option_at_index(i).prompt)
        )
        models.highlighted = index
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: writing.sessions.get(alice, plain).memory.get(OPTIONS) == {"think": "on"},
        )
        assert writing.sessions.get(alice, plain).model_name == THINKER
