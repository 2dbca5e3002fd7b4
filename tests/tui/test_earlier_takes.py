"""A part written before the chosen take of an earlier part was made (so from the take that
part had then) says so, quietly, in its header, naming the nearest such part."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from storyterm.core.basics import PartState
from storyterm.core.runtime import Runtime
from storyterm.core.views import Part
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.part_header import PartHeader, written_from_earlier
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import NOW, make_app, ready, screen_text, seed_session, wait_until, writer_id

SIZE = (120, 36)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=30) as server:
        yield server


def test_which_parts_were_written_from_an_earlier_take() -> None:
    def part(seq: int, minutes: int) -> Part:
        when = NOW + timedelta(minutes=minutes)
        return Part(
            id=seq,
            session_id="s",
            seq=seq,
            direction="",
            content="",
            model_name=None,
            state=PartState.DONE,
            word_count=0,
            created_at=when,
            updated_at=when,
        )

    # Parts 1-5 written in order; then part 2 written again (a new take), then part 4.
    parts = [part(1, 0), part(2, 10), part(3, 2), part(4, 20), part(5, 4)]
    assert written_from_earlier(parts) == {3: 2, 5: 4}
    # Part 4 flipped back to its first take: part 5 names part 2, the nearest changed one.
    parts[3] = part(4, 3)
    assert written_from_earlier(parts) == {3: 2, 4: 2, 5: 2}
    assert written_from_earlier([part(1, 0), part(2, 0), part(3, 1)]) == {}


async def test_a_part_written_from_an_earlier_take_says_so(
    runtime: Runtime, fake: FakeOllama
) -> None:
    runtime.settings.ollama_host = fake.url
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    runtime.history.edit(alice, sid, 1, content="Mara stayed ashore.")  # a new take, made now
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        story = screen.query_one(StoryView)

        def earlier(seq: int) -> int | None:
            return story.part_view(seq).query_one(PartHeader).earlier

        assert [earlier(n) for n in (1, 2, 3)] == [None, 1, 1]
        text, _raw = screen_text(app)
        [line] = [line for line in text.splitlines() if "Part 2 " in line and "words" in line]
        assert "written from an earlier take of part 1 · " in line
        tooltip = story.part_view(3).query_one(PartHeader).tooltip
        assert isinstance(tooltip, str) and tooltip.startswith("Part 1 was written again")
        # Part 2 written again: part 3 now follows a take of part 2 it was not written from.
        fake.reply = "The ferry came late."
        story.focus()
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_until(pilot, lambda: story.selected == 2)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not screen.generating and earlier(2) is None)
        assert earlier(3) == 2
        # Back to part 2's first take: part 3 was written after it, from part 1's old take.
        await pilot.press("less_than_sign")
        await wait_until(pilot, lambda: story.part_view(2).part.take == 1)
        await wait_until(pilot, lambda: earlier(2) == 1 and earlier(3) == 1)
