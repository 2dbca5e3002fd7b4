"""Writing comfort in the direction input, key by key: a direction of several lines (ctrl+j, and
shift+enter or alt+enter where the terminal reports them, break the line; Enter sends), pastes
that keep their lines, the length limit, and up/down through the story's earlier directions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from textual import events
from textual.widgets import Static

from storyterm.core.basics import MAX_DIRECTION
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.settings import load_settings
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.direction import DirectionBar, DirectionInput
from storyterm.tui.widgets.part_view import PartView
from tests.tui.helpers import (
    NOW,
    make_app,
    ready,
    seed_session,
    sessions_t,
    wait_until,
    writer_id,
)
from tests.tui.test_context_meter import shown

SIZE = (120, 36)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=30) as server:
        yield server


def main(app) -> MainScreen:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, MainScreen)
    return app.screen


def field(app) -> DirectionInput:  # type: ignore[no-untyped-def]
    return main(app).query_one(DirectionBar).input


def notifications(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


def story_with(runtime: Runtime, title: str, directions: list[str], age: timedelta) -> str:
    """A story whose parts were written from `directions`, last changed `age` before NOW (the
    list shows the newest first, and opens it)."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, title)
    for direction in directions:
        runtime.sessions.append_part(alice, sid, direction=direction, content="The tide turned.")
    with runtime.store.engine.begin() as conn:
        conn.execute(sessions_t.update().where(sessions_t.c.id == sid).values(updated_at=NOW - age))
    runtime.store.cache.drop(sid)
    return sid


async def test_ctrl_j_breaks_the_line_and_enter_sends_every_line_to_the_model(
    writing: Runtime, fake: FakeOllama
) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen, box = main(app), field(app)
        assert isinstance(app.focused, DirectionInput) and box.size.height == 1
        await pilot.press(*"The boat leaves", "ctrl+j", *"Rain", "shift+enter", "alt+enter")
        await pilot.press(*"then calm")
        assert box.text == "The boat leaves\nRain\n\nthen calm"
        assert box.size.height == 4  # it grows with its lines
        assert not screen.generating  # none of those keys sent it
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session.part_count == 2 and not screen.generating)
        direction = "The boat leaves\nRain\n\nthen calm"
        assert writing.sessions.open(alice, sid).parts[-1].direction == direction
        sent = fake.chat_requests[-1].body["messages"][-1]
        assert sent == {"role": "user", "content": direction}
        # Sent: the box is empty and one line high again.
        await pilot.pause()
        assert box.text == "" and box.size.height == 1
        # The part's direction shows on one line.
        view = screen.query_one("#part-2", PartView)
        quote = view.query_one(".direction", Static)
        assert str(quote.visual) == "The boat leaves Rain then calm"


async def test_the_box_grows_to_six_lines_then_scrolls(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box = field(app)
        for n in range(1, 10):
            await pilot.press(*f"line {n}", "ctrl+j")
        assert box.text.count("\n") == 9
        assert box.size.height == 6
        assert box.scroll_y > 0  # the line being typed stays in view
        assert box.cursor_location == (9, 0)


async def test_a_pasted_passage_keeps_its_lines_and_shows_its_control_codes(
    runtime: Runtime,
) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box = field(app)
        await pilot.press(*"Then: ")
        app.post_message(events.Paste("Rain\r\nthen \x1b[31mcalm\n\nNight"))
        await wait_until(pilot, lambda: "Night" in box.text)
        # Line breaks kept (CR LF made LF); the escape shows as a symbol, never reaches the
        # terminal.
        assert box.text == "Then: Rain\nthen ␛[31mcalm\n\nNight"
        assert box.cursor_location == (3, 5)


async def test_the_direction_stops_at_its_limit_and_says_so(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box, bar = field(app), main(app).query_one(DirectionBar)
        app.post_message(events.Paste("x" * (MAX_DIRECTION + 50)))
        await wait_until(pilot, lambda: len(box.text) == MAX_DIRECTION)
        told = [m for m in notifications(app) if "holds up to 4,000 characters" in m]
        assert told == [
            "A direction holds up to 4,000 characters; 50 of what you typed or pasted did not "
            "fit. Put lasting facts in the story bible (b) instead."
        ]
        assert bar.border_subtitle == "4,000/4,000"
        await pilot.press("y", "ctrl+j", "z")  # no room: nothing more, and no second notice
        assert len(box.text) == MAX_DIRECTION
        assert len([m for m in notifications(app) if "holds up to" in m]) == 1
        await pilot.press("backspace", "backspace")
        assert len(box.text) == MAX_DIRECTION - 2 and bar.border_subtitle == "3,998/4,000"


async def test_up_and_down_walk_this_storys_directions_and_come_back_to_the_draft(
    runtime: Runtime,
) -> None:
    story_with(runtime, "Winter Orchard", ["Snow falls"], age=timedelta(hours=5))
    story_with(
        runtime,
        "Salt Roads",
        ["The boat leaves", "", "Rain,\nthen calm", "The boat leaves", "Night"],
        age=timedelta(hours=1),
    )
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen, box = main(app), field(app)
        assert screen.session.title == "Salt Roads"
        await wait_until(pilot, lambda: box.earlier.loaded)
        await pilot.press(*"Dra")
        walked = []
        for _ in range(4):
            await pilot.press("up")
            walked.append(box.text)
        # Newest first, each once, "Snow falls" is another story's; nothing older than the
        # oldest (up stays there).
        assert walked == ["Night", "The boat leaves", "Rain,\nthen calm", "Rain,\nthen calm"]
        # The meter follows what the input holds, as when typing.
        meter = screen.column.gauge._meter
        assert meter is not None
        await wait_until(pilot, lambda: meter.label(box.text) in shown(app))
        # Down moves inside an entry of several lines first, then walks forward.
        await pilot.press("down")
        assert box.text == "Rain,\nthen calm" and box.cursor_location[0] == 1
        walked = []
        for _ in range(3):
            await pilot.press("down")
            walked.append(box.text)
        assert walked == ["The boat leaves", "Night", "Dra"]  # the draft, kept
        await pilot.press("down", *"ft")
        assert box.text == "Draft"

        # Another story: its own history.
        await pilot.press("escape", "down")
        await wait_until(pilot, lambda: screen.session.title == "Winter Orchard")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.focused is box and box.earlier.loaded)
        await pilot.press("up")
        assert box.text == "Snow falls"
        await pilot.press("up")
        assert box.text == "Snow falls"
        await pilot.press("down")
        assert box.text == "Draft"


async def test_a_changed_entry_is_kept_while_walking_and_what_is_sent_comes_first(
    writing: Runtime,
) -> None:
    story_with(writing, "Salt Roads", ["The boat leaves", "Night"], age=timedelta(hours=1))
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen, box = main(app), field(app)
        await wait_until(pilot, lambda: box.earlier.loaded)
        await pilot.press("up", *" falls")
        assert box.text == "Night falls"
        await pilot.press("up", "down")
        assert box.text == "Night falls"  # the change was kept
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session.part_count == 3 and not screen.generating)
        await wait_until(pilot, lambda: box.text == "")
        await pilot.press("up")
        assert box.text == "Night falls"
        await pilot.press("up")
        assert box.text == "Night"  # the entry itself, as the story holds it


async def test_the_history_is_read_again_after_a_restart(writing: Runtime) -> None:
    story_with(writing, "Salt Roads", ["The boat leaves"], age=timedelta(hours=1))
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press(*"Rain", "ctrl+j", *"then calm", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 2 and not screen.generating)

    # Another run of storyterm on the same database (its login from the keyring).
    again = Runtime(load_settings())
    try:
        app = make_app(again)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            box = field(app)
            await wait_until(pilot, lambda: box.earlier.loaded)
            await pilot.press("up")
            assert box.text == "Rain\nthen calm"
            await pilot.press("up")  # the cursor is on its first line: up walks on
            assert box.text == "The boat leaves"
    finally:
        again.close()


async def test_the_part_editor_keeps_every_line_of_a_direction(runtime: Runtime) -> None:
    from textual.widgets import TextArea

    from storyterm.tui.screens.part_editor import PartEditorScreen

    sid = story_with(runtime, "Salt Roads", ["The boat leaves\nat dawn"], age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "E")
        await wait_until(pilot, lambda: isinstance(app.screen, PartEditorScreen))
        direction = app.screen.query_one("#direction", TextArea)
        assert direction.text == "The boat leaves\nat dawn" and direction.size.height == 2
        direction.focus()
        await pilot.press("end", "enter", *"in fog")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(
            pilot,
            lambda: (
                runtime.sessions.open(writer_id(runtime), sid).parts[-1].direction
                == "The boat leaves\nat dawn\nin fog"
            ),
        )


def test_a_direction_sent_from_another_window_joins_the_history_without_moving_a_walk() -> None:
    from storyterm.tui.widgets.direction_history import DirectionHistory

    history = DirectionHistory()
    history.open("s")
    history.read("s", ["Mara reads the letter", "The storm breaks"])
    assert history.back("my draft") == "Mara reads the letter"
    history.heard("Tobias rows out")  # another window's part begins meanwhile
    assert history.back("Mara reads the letter") == "The storm breaks"  # the walk goes on
    assert history.forward("The storm breaks") == "Mara reads the letter"
    assert history.forward("Mara reads the letter") == "my draft"
    assert history.back("my draft") == "Tobias rows out"  # the newest, from the next walk
    assert history.entries == ["Tobias rows out", "Mara reads the letter", "The storm breaks"]
