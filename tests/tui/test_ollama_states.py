"""The status line tells a model that failed from an Ollama that does not answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.status_bar import StatusBar
from tests.tui.helpers import make_app, ready, screen_text, seed_session, wait_until, writer_id

SIZE = (120, 36)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=40) as server:
        yield server


def status_line(app) -> str:  # type: ignore[no-untyped-def]
    text, _raw = screen_text(app)
    return next(line for line in text.splitlines() if line.lstrip().startswith("Ollama"))


async def write(pilot, screen: MainScreen, direction: str) -> None:  # type: ignore[no-untyped-def]
    """Ask for a part and wait until the run has ended (told, or a part added)."""
    told, parts = len(pilot.app._notifications), screen.session.part_count
    await pilot.press(*direction, "enter")
    await wait_until(
        pilot,
        lambda: len(pilot.app._notifications) > told or screen.session.part_count > parts,
        timeout=30,
    )
    await wait_until(pilot, lambda: not screen.generating, timeout=30)


async def test_a_model_error_mid_reply_is_not_ollama_down_and_clears_on_the_next_part(
    writing: Runtime, fake: FakeOllama
) -> None:
    seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    fake.error_after = 8
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        bar = screen.query_one(StatusBar)
        await write(pilot, screen, "The storm")
        await wait_until(pilot, lambda: bar.ollama == "model error")
        told = [n for n in app._notifications if n.title == "Model error"]
        assert told and "unexpected EOF" in told[-1].message  # the cause, in the notice
        line = status_line(app)
        assert "model error" in line and "not answering" not in line
        assert "gemma3:latest" in line
        # The regular check finds Ollama up: the model's error still stands.
        bar.check()
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert bar.ollama == "model error"
        fake.error_after = None
        await write(pilot, screen, "Go on")
        await wait_until(pilot, lambda: bar.ollama == "up")
        line = status_line(app)
        assert "model error" not in line and "gemma3:latest" in line


async def test_an_ollama_that_stopped_answering_says_not_answering(
    writing: Runtime, fake: FakeOllama
) -> None:
    seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        bar = screen.query_one(StatusBar)
        assert bar.ollama == "up"
        fake.close()
        await write(pilot, screen, "The storm")
        await wait_until(pilot, lambda: bar.ollama == "down")
        assert any("Ollama is not running" in n.message for n in app._notifications)
        line = status_line(app)
        assert "not answering" in line and "model error" not in line
