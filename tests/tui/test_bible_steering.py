"""The author's note, its depth and the story's instructions on the bible screen (b), key by
key: the default instructions are shown until replaced and come back with one button, a bad
depth is refused before anything is saved, stored escapes are shown as symbols, and at 80x24
the form scrolls while its buttons stay on screen."""

from __future__ import annotations

from typing import Any

import pytest
from textual.geometry import Region
from textual.widgets import Input, TextArea

from storyterm.core.memory.steering import DEFAULT_INSTRUCTIONS, Steering
from storyterm.core.runtime import Runtime
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.bible import BibleScreen
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id
from tests.tui.test_snapshots import on, press, then

NOTE = "tense, rain, Mara is lying"


async def open_bible(pilot: Any) -> BibleScreen:
    await ready(pilot)
    await pilot.press("escape", "b")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, BibleScreen))
    return pilot.app.screen


def area(screen: BibleScreen, selector: str) -> TextArea:
    return screen.query_one(selector, TextArea)


async def test_the_note_depth_and_instructions_are_edited_and_saved(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", metadata={"genre": "sea saga"})
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        bible = await open_bible(pilot)
        assert area(bible, "#note").text == ""
        assert bible.query_one("#note-depth", Input).value == "3"
        assert area(bible, "#instructions").text == DEFAULT_INSTRUCTIONS
        area(bible, "#note").focus()
        await pilot.press(*NOTE)
        bible.query_one("#note-depth", Input).value = "0"
        area(bible, "#instructions").load_text("Write like a ship's log.")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        session = runtime.sessions.get(alice, sid)
        assert Steering.of(session.memory) == Steering(NOTE, 0, "Write like a ship's log.", True)
        assert session.session_metadata == {"genre": "sea saga"}  # untouched, kept

        # Again: the stored values are shown; "Default" puts the default text back, and saving
        # it leaves the story without instructions of its own.
        bible = await open_bible(pilot)
        assert area(bible, "#note").text == NOTE
        assert area(bible, "#instructions").text == "Write like a ship's log."
        await pilot.click("#default-instructions")
        assert area(bible, "#instructions").text == DEFAULT_INSTRUCTIONS
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert Steering.of(runtime.sessions.get(alice, sid).memory) == Steering(
            NOTE, 0, DEFAULT_INSTRUCTIONS, False
        )


async def test_a_bad_depth_is_refused_and_nothing_is_saved(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads")
    before = runtime.sessions.get(alice, sid)
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        bible = await open_bible(pilot)
        bible.query_one("#genre", Input).value = "sea saga"
        bible.query_one("#note-depth", Input).value = "77"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bible.query_one("#error").has_class("-shown"))
        assert "from 0 (right before your direction) to 50" in str(bible.query_one("#error").visual)
        assert app.screen is bible and not bible.query_one("#save").disabled
        assert runtime.sessions.get(alice, sid).version == before.version
        bible.query_one("#note-depth", Input).value = "2"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        session = runtime.sessions.get(alice, sid)
        assert Steering.of(session.memory).note_depth == 2
        assert session.session_metadata == {"genre": "sea saga"}


async def test_stored_escapes_are_shown_as_symbols_and_not_written_back(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads")
    hostile = "\x1b]0;pwned\x07rain\x1b[2J"
    runtime.sessions.set_steering(alice, sid, {"note": hostile, "instructions": hostile})
    app = make_app(runtime)
    async with app.run_test(size=(120, 40)) as pilot:
        bible = await open_bible(pilot)
        for selector in ("#note", "#instructions"):
            shown = area(bible, selector).text
            assert "\x1b" not in shown and "\x07" not in shown and "␛]0;pwned" in shown
        bible.query_one("#genre", Input).value = "sea saga"  # another field changed
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        stored = Steering.of(runtime.sessions.get(alice, sid).memory)
        assert (stored.note, stored.instructions) == (hostile, hostile)  # exact, untouched


async def test_at_80x24_the_form_scrolls_to_the_instructions_and_keeps_its_buttons(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", metadata={"premise": "A letter."})
    runtime.sessions.set_steering(alice, sid, {"note": NOTE, "instructions": "Be terse."})
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        bible = await open_bible(pilot)
        screen = Region(0, 0, 80, 24)
        for button in ("#save", "#cancel"):
            assert screen.contains_region(bible.query_one(button).region)
        area(bible, "#instructions").focus()
        await pilot.pause()
        await wait_until(pilot, lambda: screen.contains_region(area(bible, "#instructions").region))
        assert screen.contains_region(bible.query_one("#save").region)


@pytest.fixture
def steered(runtime: Runtime) -> Runtime:
    alice = writer_id(runtime)
    sid = seed_session(
        runtime,
        alice,
        "Salt Roads",
        metadata={"genre": "sea saga", "premise": "Two sisters sail north."},
    )
    runtime.sessions.set_steering(
        alice,
        sid,
        {
            "note": NOTE,
            "note_depth": 1,
            "instructions": "Write like a ship's log: short entries, present tense.",
        },
    )
    return runtime


def test_bible_with_note_and_instructions_at_80x24(steered: Runtime, snap_compare: Any) -> None:
    async def to_the_note(pilot: Any) -> None:
        pilot.app.screen.query_one("#note").focus()
        await pilot.pause()

    assert snap_compare(
        make_app(steered),
        terminal_size=(80, 24),
        run_before=then(press("escape", "b", until=on("BibleScreen")), to_the_note),
    )
