"""A title longer than a story may have is said in the New story form, never cut silently."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from storyterm.core.basics import MAX_TITLE
from storyterm.core.runtime import Runtime
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.new_session import NewSessionScreen
from tests.tui.helpers import make_app, ready, wait_until, writer_id

SIZE = (120, 36)


async def test_a_5000_character_title_is_said_and_not_cut(runtime: Runtime) -> None:
    long_title = ("The lighthouse keeper's long letter " * 200)[:5000]
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        form = app.screen
        title = form.query_one("#title", Input)
        await wait_until(pilot, lambda: app.focused is title)
        note = form.query_one("#title-note")
        assert not note.display
        # Pasted whole: the field keeps every character the writer pasted...
        title.post_message(events.Paste(long_title))
        await wait_until(pilot, lambda: len(title.value) == 5000)
        # ...and says at once, under the field, why it cannot be a title.
        await wait_until(pilot, lambda: note.display)
        expected = "Titles are at most 200 characters (this one is 5,000)."
        assert expected in str(note.visual)
        # Create refuses it: no story is made with a cut title.
        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        assert app.screen is form
        assert expected in str(form.query_one("#error").visual)
        assert runtime.sessions.list(writer_id(runtime)).items == []
        # Shortened to the limit, the note goes and the story is made with that title.
        title.value = long_title[:MAX_TITLE]
        await wait_until(pilot, lambda: not note.display)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
    [story] = runtime.sessions.list(writer_id(runtime)).items
    assert story.title == long_title[:MAX_TITLE].strip()


async def test_the_bible_says_a_title_is_too_long_and_keeps_the_story_title(
    runtime: Runtime,
) -> None:
    from storyterm.tui.screens.bible import BibleScreen
    from tests.tui.helpers import seed_session

    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=1)
    long_title = ("Salt roads and the keeper's letter " * 200)[:5000]
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "b")
        await wait_until(pilot, lambda: isinstance(app.screen, BibleScreen))
        form = app.screen
        title = form.query_one("#title", Input)
        note = form.query_one("#title-note")
        assert not note.display
        title.value = long_title  # as a paste would leave it: kept whole, not cut
        await wait_until(pilot, lambda: note.display)
        assert "Titles are at most 200 characters (this one is 5,000)." in str(note.visual)
        await pilot.press("ctrl+s")
        await pilot.app.workers.wait_for_complete()
        assert app.screen is form and len(title.value) == 5000
        assert runtime.sessions.get(alice, sid).title == "Salt Roads"
