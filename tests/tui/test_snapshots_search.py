"""A snapshot of the search screen's results: story and part on one line, the snippet under it
with the searched words marked, and a model's escape codes drawn as symbols."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, OptionList

from storyterm.core.runtime import Runtime
from storyterm.tui.screens.search import SearchScreen
from tests.tui.helpers import make_app, seed_session, wait_until, writer_id
from tests.tui.test_snapshots import SIZE, library, then  # noqa: F401

TEXTS = {
    1: "The keeper lit the lantern at dusk, and the lantern burned until the ferry came.",
    3: "Nobody said the word lantern aloud \x1b[31mthat night\x1b[0m; the lantern was enough.",
    4: "The tide came in. " * 12 + "Under the Lantern's glass a moth beat. " + "Rain. " * 40,
}


def test_search_results(library: Runtime, snap_compare: Any) -> None:  # noqa: F811
    seed_session(
        library,
        writer_id(library),
        "Lamplight",
        parts=4,
        content=lambda n: TEXTS.get(n, f"Part {n}: the tide."),
    )

    async def search(pilot: Any) -> None:
        await pilot.press("escape", "ctrl+f")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SearchScreen))
        pilot.app.screen.query_one(Input).value = "lantern"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pilot.app.screen.query_one(OptionList).option_count)
        await pilot.app.workers.wait_for_complete()

    assert snap_compare(make_app(library), terminal_size=SIZE, run_before=then(search))
