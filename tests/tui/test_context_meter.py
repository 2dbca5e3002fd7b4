"""The status line's context meter: how much of the model's window the open story's next
prompt takes ("ctx 1.2k/~8k"), following the direction as it is typed."""

from __future__ import annotations

import re

from storyterm.core.runtime import Runtime
from storyterm.tui.widgets.status_bar import StatusBar
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


def shown(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(StatusBar).render())


def tokens(label: str) -> float:
    match = re.search(r"ctx ([\d.]+)(k?)/", label)
    assert match, label
    return float(match.group(1)) * (1000 if match.group(2) else 1)


async def test_the_meter_shows_the_next_prompt_and_follows_the_direction(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=4, words_per_part=40)  # under 1k: exact
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        meter = app.screen.column.gauge._meter
        assert meter is not None
        # Not written with its model yet: the window is the max_num_ctx setting, marked ~.
        assert f"{meter.label('')}  ·  db" in shown(app) and meter.label("").endswith("/~8k")
        before = tokens(shown(app))
        await pilot.press(*"Mara reads the letter aloud, slowly, twice, and then once more")
        await wait_until(pilot, lambda: tokens(shown(app)) > before)
        typed = app.screen.column.direction_bar.input.text
        assert meter.label(typed) in shown(app) and meter.tokens(typed) > meter.tokens("")


async def test_a_story_without_parts_still_has_its_instructions_and_bible(
    runtime: Runtime,
) -> None:
    seed_session(runtime, writer_id(runtime), "Empty Harbour")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert 0 < tokens(shown(app)) < 1000
