"""Searching inside stories from the TUI, key by key: ctrl+f, the words, Enter on a result
opens its story at that part; F3 / shift+F3 step through the open story's matches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from storyterm.core.runtime import Runtime
from storyterm.tui.main.find import step_to
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.search import SearchScreen
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import bulk_parts, make_app, ready, seed_session, wait_until, writer_id

SIZE = (130, 36)


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


def long_story(runtime: Runtime) -> str:
    """A 1,000-part story with one rare word in part 100, opened second (another is newer)."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "The Long Voyage", age=timedelta(days=1))
    bulk_parts(runtime, sid, 1000)
    runtime.history.edit(alice, sid, 100, content="The quillfeather lay under the lamp.")
    seed_session(runtime, alice, "Salt Roads", parts=2, age=timedelta(minutes=5))
    return sid


async def search_for(pilot: Pilot[Any], words: str) -> SearchScreen:
    await pilot.press("escape")  # out of the input: ctrl+f there deletes a word
    await pilot.press("ctrl+f")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SearchScreen))
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    screen.query_one(Input).value = words
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: (
            screen.query_one(OptionList).option_count
            or "Searching" not in str(screen.query_one("#search-note", Static).content)
        ),
    )
    await pilot.pause()
    return screen


async def test_ctrl_f_finds_a_part_900_back_and_opens_the_story_there(runtime: Runtime) -> None:
    sid = long_story(runtime)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await search_for(pilot, "QUILLFEATHER")
        results = screen.query_one(OptionList)
        assert results.option_count == 1
        prompt = str(results.get_option_at_index(0).prompt)
        assert "The Long Voyage · part 100" in prompt
        assert "The quillfeather lay under the lamp." in prompt

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert isinstance(main, MainScreen)
        story = main.query_one(StoryView)
        await wait_until(pilot, lambda: story.selected == 100)
        assert main.session is not None and main.session.id == sid
        await pilot.pause()
        view = story.part_view(100)
        assert view is not None
        top = view.virtual_region.y - story.scroll_y
        assert 0 <= top < story.size.height  # on screen, where the writer can read it
        assert story.part_view(1000) is None  # the window is around part 100, not the end


async def test_f3_and_shift_f3_step_through_the_story_and_go_round(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    texts = {2: "a gull", 5: "a gull, a gull", 9: "the last gull"}
    seed_session(
        runtime,
        alice,
        "Salt Roads",
        parts=10,
        content=lambda n: texts.get(n, f"Part {n}: calm water."),
    )
    app = make_app(runtime)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        screen = await search_for(pilot, "gull")
        results = screen.query_one(OptionList)
        assert results.option_count == 3
        first = str(results.get_option_at_index(0).prompt)
        assert "Salt Roads · part 5" in first  # said twice: the best match
        await pilot.press("enter")
        story = app.screen.query_one(StoryView)
        await wait_until(pilot, lambda: story.selected == 5)

        await pilot.press("f3")
        await wait_until(pilot, lambda: story.selected == 9)
        await pilot.press("f3")
        await wait_until(pilot, lambda: story.selected == 2)
        assert any("part 2, match 1 of 3 (from the start)" in n for n in notifications(app))
        await pilot.press("shift+f3")
        await wait_until(pilot, lambda: story.selected == 9)


async def test_a_search_with_no_word_says_what_to_type(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await search_for(pilot, '"*" -- NEAR(')
        note = str(screen.query_one("#search-note", Static).content)
        assert note == "Nothing found. Parts in the trash are not searched."
        screen = await search_for(pilot, "!!! ***")
        note = str(screen.query_one("#search-note", Static).content)
        assert note.startswith("Nothing to search for: type a word or two")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_f3_before_any_search_opens_the_search(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f3")  # a function key works from the input too
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))


def test_step_to_goes_round_the_ends() -> None:
    assert step_to([2, 5, 9], None, 1) == (2, False)
    assert step_to([2, 5, 9], None, -1) == (9, False)
    assert step_to([2, 5, 9], 5, 1) == (9, False)
    assert step_to([2, 5, 9], 9, 1) == (2, True)
    assert step_to([2, 5, 9], 2, -1) == (9, True)
    assert step_to([2, 5, 9], 3, -1) == (2, False)
