"""The panes load their own pages from the reader they are given: a page that fails is asked
for again, and a bug in a pane's worker still reaches the writer (through the app)."""

from __future__ import annotations

from typing import Any

import pytest

from storyterm.core.runtime import Runtime
from storyterm.errors import DatabaseUnavailable
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.readers import Reader
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import bulk_parts, bulk_sessions, make_app, ready, seed_session, wait_until
from tests.tui.helpers import writer_id as writer_of

SIZE = (140, 40)


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_list_page_that_fails_is_asked_for_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_sessions(runtime, writer_of(runtime), 120)
    read = Reader.sessions
    failures = []

    def flaky(self: Reader, status: str, search: str, cursor: str | None, limit: int) -> Any:
        if cursor is not None and not failures:
            failures.append(cursor)
            raise DatabaseUnavailable("The database stopped answering. Try again in a moment.")
        return read(self, status, search, cursor, limit)

    monkeypatch.setattr(Reader, "sessions", flaky)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        panel = screen.panel
        assert panel.loaded_count == 50
        await pilot.press("escape", "end")  # near the end: the second page is asked for
        await wait_until(pilot, lambda: any("stopped answering" in m for m in notifications(app)))
        # The screen told the writer and the status line; the panel undid its own load, so
        # the list asks again as the cursor moves, and this time the page comes.
        assert screen.query_one(StatusBar).database_ok is False
        await pilot.press("up", "end")
        await wait_until(pilot, lambda: panel.loaded_count >= 100)
        assert len(failures) == 1


async def test_a_bug_in_a_panes_worker_is_reported_by_the_app(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, unexpected_errors: list[BaseException]
) -> None:
    sid = seed_session(runtime, writer_of(runtime), "The Long Voyage")
    bulk_parts(runtime, sid, 80)

    def broken(self: Reader, session_id: str, before_seq: int, limit: int) -> Any:
        raise RuntimeError("a bug in the reader")

    monkeypatch.setattr(Reader, "parts_before", broken)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        story = app.screen.query_one(StoryView)
        story.focus()
        for _ in range(10):  # up past the tail read with the story, to the database
            await pilot.press("home")
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: any("a bug in the reader" in m for m in notifications(app)))
        message = next(m for m in notifications(app) if "a bug in the reader" in m)
        assert message.startswith("Something went wrong (RuntimeError")
        assert "press F5 to reload" in message
        assert "storyterm.log" in message  # where the traceback is
    assert {type(e) for e in unexpected_errors} == {RuntimeError}
    unexpected_errors.clear()
