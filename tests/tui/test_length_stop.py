"""A part cut at the model's reply length, in the TUI: its header says so (and still does
after the story is opened again), and F goes on from where it was cut, mid-sentence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.part_view import PartHeader, PartView
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)
LONG = " ".join(["the lantern swung over the dark water and the keeper"] * 20)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], reply=LONG) as server:
        yield server


async def test_a_cut_part_says_so_and_f_goes_on_mid_sentence(
    writing: Runtime, fake: FakeOllama
) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads")
    writing.sessions.set_options(alice, sid, {"num_predict": 16})
    app = make_app(writing)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 1 and not screen.generating)
        view = screen.query_one("#part-1", PartView)
        assert "cut at the reply length" in view.query_one(PartHeader).meta.plain
        assert any("F goes on from there" in n.message for n in app._notifications)
        cut = writing.sessions.get_part(alice, sid, 1).content

        fake.reply = "dreamed of the far shore."
        await pilot.press("escape", "F")
        await wait_until(
            pilot,
            lambda: writing.sessions.get_part(alice, sid, 1).takes == 2 and not screen.generating,
            timeout=20,
        )
        part = writing.sessions.get_part(alice, sid, 1)
        assert (part.take, part.takes, str(part.state)) == (2, 2, "done")
        assert part.content == cut + " dreamed of the far shore."
        view = screen.query_one("#part-1", PartView)
        assert "cut at" not in view.query_one(PartHeader).meta.plain

        # The cut take, chosen again, says so again (the mark is the take's own).
        await pilot.press("<")
        await wait_until(
            pilot,
            lambda: (
                "cut at the reply length"
                in screen.query_one("#part-1", PartView).query_one(PartHeader).meta.plain
            ),
        )
