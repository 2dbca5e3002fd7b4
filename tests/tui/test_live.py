"""Every window sees every change as it happens (tui/main/live.py, live_story.py): a TUI on one
database with another client (a second Runtime, as a second process would have it) changing
the same writer's stories over the tests' real Redis, or without it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.settings import load_settings
from storyterm.tui.app import StorytermApp
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.text import safe
from storyterm.tui.widgets.direction import ELSEWHERE, DirectionBar
from storyterm.tui.widgets.status_bar import StatusBar
from tests.helpers import login_as
from tests.services import RedisServer
from tests.tui.helpers import make_app, ready, screen_text, seed_session, wait_until, writer_id

SIZE = (120, 36)


def main(app: StorytermApp) -> MainScreen:
    assert isinstance(app.screen, MainScreen)
    return app.screen


def titles(screen: MainScreen) -> list[str]:
    """The list's titles, top to bottom."""
    rows = screen.panel.session_list
    return [
        str(rows.get_option_at_index(i).prompt).split("\n")[0][2:] for i in range(rows.option_count)
    ]


def notes(app: StorytermApp) -> list[str]:
    return [n.message for n in app._notifications]


async def listening(pilot: Pilot[Any], mode: str = "live") -> MainScreen:
    """The app is up and hears the other client's changes."""
    app = await ready(pilot)
    screen = main(app)
    await wait_until(pilot, lambda: screen.changes.live.mode == mode)
    return screen


@pytest.fixture
def two(redis_url: str) -> Iterator[tuple[Runtime, Runtime, int]]:
    """This window's runtime (alice logged in) and another client's, on one SQLite file and
    one Redis; and alice's id."""
    here = Runtime(load_settings(redis_url=redis_url))
    alice = login_as(here, "alice").id
    there = Runtime(load_settings(redis_url=redis_url))
    yield here, there, alice
    there.close()
    here.close()


@pytest.mark.redis
async def test_the_list_follows_stories_started_renamed_paused_and_deleted_elsewhere(
    two: tuple[Runtime, Runtime, int],
) -> None:
    here, there, alice = two
    seed_session(here, alice, "Salt Roads", age=timedelta(days=3))
    orchard = seed_session(here, alice, "Winter Orchard")
    app = make_app(here)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await listening(pilot)
        assert titles(screen) == ["Winter Orchard", "Salt Roads"]
        roads = screen.panel.session_list.get_option_at_index(1).id
        assert roads is not None
        await pilot.press("escape")  # the list has the keyboard; its cursor on the orchard
        assert screen.panel.highlighted_id == orchard

        there.sessions.start(alice, "Glass Cartographer", {}, "gemma3:latest")
        await wait_until(pilot, lambda: titles(screen)[0] == "Glass Cartographer")
        assert screen.panel.highlighted_id == orchard  # the cursor stays on its story
        assert screen.panel.total == 3

        there.sessions.rename(alice, roads, "Salt Roads, Revised")
        await wait_until(pilot, lambda: titles(screen)[0] == "Salt Roads, Revised")
        assert titles(screen) == ["Salt Roads, Revised", "Glass Cartographer", "Winter Orchard"]
        assert screen.panel.highlighted_id == orchard

        there.sessions.delete(alice, roads)
        await wait_until(pilot, lambda: "Salt Roads, Revised" not in titles(screen))
        assert screen.panel.highlighted_id == orchard and screen.panel.total == 2
        assert screen.session is not None and screen.session.id == orchard


async def _drain(events: Any) -> list[Any]:
    return [event async for event in events]


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    """A model that writes 20 tokens, then holds the stream open until released."""
    with FakeOllama(models=["gemma3:latest"], tokens=40, hang_after=20, rate=400) as server:
        yield server


@pytest.mark.redis
async def test_a_part_written_in_another_window_streams_in_then_shows_as_saved(
    two: tuple[Runtime, Runtime, int], fake: FakeOllama
) -> None:
    here, there, alice = two
    there.settings.ollama_host = fake.url
    there.settings.checkpoint_interval = 0.2
    sid = seed_session(here, alice, "The Keeper's Letter", parts=1)
    app = make_app(here)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await listening(pilot)
        story = screen.story
        writing = asyncio.create_task(
            _drain(there.storyteller.generate(alice, sid, "Mara reads the letter"))
        )
        try:
            await wait_until(
                pilot,
                lambda: story.part_view(2).elsewhere and len(story.part_view(2).shown_text) > 20,
            )
            view = story.part_view(2)
            assert view.streaming
            bar = screen.query_one(DirectionBar)
            assert bar.elsewhere and "written in another window" in str(bar.border_title)
            text, _raw = screen_text(app)
            assert "being written in another window" in text
            assert "Mara reads the letter" in text  # its direction, from the database

            # Enter does not start a second generation, and says why.
            await pilot.press(*"Tobias rows out", "enter")
            assert ELSEWHERE in notes(app)
            assert not screen.generating
            assert bar.input.text == "Tobias rows out"  # kept for later
            # Writing the part again is refused by the core, which says why.
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: any("being written right now" in n for n in notes(app)))
            # Nothing was written here; the part is followed again.
            await wait_until(pilot, lambda: not screen.generating and story.part_view(2).elsewhere)

            fake.release_hang()
            await writing
        finally:
            fake.release_hang()
            await writing
        stored = here.sessions.get_part(alice, sid, 2)
        assert str(stored.state) == "done"
        await wait_until(pilot, lambda: not story.part_view(2).streaming)
        view = story.part_view(2)
        assert view is not None and not view.elsewhere
        assert view.part.content == stored.content
        # Its direction is the newest of the story's earlier directions here too (up), before
        # the ones this window read from the story; down gives the draft back.
        bar.input.focus()
        await pilot.press("up")
        assert bar.input.text == "Mara reads the letter"
        await pilot.press("down")
        assert bar.input.text == "Tobias rows out"
        assert view.shown_text == safe(stored.content)
        assert not bar.elsewhere
        await wait_until(pilot, lambda: screen.session.part_count == 2)
        assert len(story.part_views) == 2  # shown once, not twice


@pytest.mark.redis
async def test_a_story_deleted_elsewhere_while_open_closes_and_says_where_it_went(
    two: tuple[Runtime, Runtime, int],
) -> None:
    here, there, alice = two
    sid = seed_session(here, alice, "The Keeper's Letter", parts=2)
    seed_session(here, alice, "Salt Roads", age=timedelta(days=2))
    app = make_app(here)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await listening(pilot)
        assert screen.session is not None and screen.session.id == sid
        there.sessions.delete(alice, sid)
        await wait_until(pilot, lambda: screen.session is None and not screen.story.part_views)
        said = [n for n in notes(app) if "moved to the trash in another window" in n]
        assert said and "“The Keeper's Letter”" in said[0] and "Press T" in said[0]
        await wait_until(pilot, lambda: titles(screen) == ["Salt Roads"])
        pane = str(screen.query_one("#story-empty").visual)  # the pane says so too
        assert "moved to the trash in another window" in pane and "Press T" in pane
        # It is in the trash, where T finds it.
        await pilot.press("escape", "T")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "TrashScreen")
        text, _raw = screen_text(app)
        assert "The Keeper's Letter" in text


@pytest.mark.redis
async def test_redis_killed_mid_stream_the_database_is_watched_then_live_again(
    own_redis: RedisServer, fake: FakeOllama
) -> None:
    here = Runtime(load_settings(redis_url=own_redis.url))
    there = Runtime(load_settings(redis_url=own_redis.url, ollama_host=fake.url))
    there.settings.checkpoint_interval = 0.2
    here.store.events.poll_seconds = 0.3  # the database is watched every 0.3 s, not 2
    try:
        alice = login_as(here, "alice").id
        sid = seed_session(here, alice, "The Keeper's Letter", parts=1)
        app = make_app(here)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await listening(pilot)
            bar = screen.query_one(StatusBar)
            story = screen.story
            assert bar.live is None  # live: nothing to say
            writing = asyncio.create_task(
                _drain(there.storyteller.generate(alice, sid, "Mara reads the letter"))
            )
            try:
                await wait_until(pilot, lambda: story.part_view(2).elsewhere)
                own_redis.stop()
                await wait_until(pilot, lambda: bar.live == "every 0.3 s")
                text, _raw = screen_text(app)
                assert "live: every 0.3 s" in text
                await wait_until(pilot, lambda: bar.cache == "offline")  # checked again
                # The list still follows the other window, from the database.
                there.sessions.start(alice, "Glass Cartographer", {}, "gemma3:latest")
                await wait_until(pilot, lambda: "Glass Cartographer" in titles(screen))
                fake.release_hang()
                await writing
            finally:
                fake.release_hang()
                await writing
            # The part ends here too: the saved part, whole.
            stored = here.sessions.get_part(alice, sid, 2)
            await wait_until(pilot, lambda: not story.part_view(2).streaming)
            assert story.part_view(2).shown_text == safe(stored.content)

            own_redis.start()
            await wait_until(pilot, lambda: screen.changes.live.mode == "live" and not bar.live)
            await wait_until(pilot, lambda: bar.cache == "online")
            there.sessions.rename(alice, sid, "The Keeper's Last Letter")
            await wait_until(pilot, lambda: "The Keeper's Last Letter" in titles(screen))
            # Nothing missed on screen: the list is the database's, the open story its title.
            listed = [s.title for s in here.sessions.list(alice).items]
            assert titles(screen) == listed
            await wait_until(pilot, lambda: screen.session.title == "The Keeper's Last Letter")
    finally:
        there.close()
        here.close()
        if own_redis.proc is None:
            own_redis.start()


@pytest.mark.redis
def test_snapshot_a_part_being_written_in_another_window(
    two: tuple[Runtime, Runtime, int], snap_compare: Any
) -> None:
    """Its header says so, the direction bar says why Enter waits, and its text (data: an
    escape sequence shows as symbols) streams in as the other window's core publishes it."""
    here, there, alice = two
    sid = seed_session(here, alice, "The Keeper's Letter", parts=1)

    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await listening(pilot)
        part = there.sessions.begin_part(
            alice, sid, direction="Mara reads the letter aloud", model_name="gemma3:latest"
        )
        live = there.sessions.live_text(alice, part)
        live.add("The keeper broke the seal at last, and the \x1b[31mred\x1b[0m ink ")
        live.add("was older than the lighthouse itself.")
        story = screen.story
        await wait_until(pilot, lambda: story.part_view(2).shown_text.endswith("itself."))
        view = story.part_view(2)
        assert "␛[31mred" in view.shown_text
        # The spinner's frame must not depend on the millisecond (private: a test's pin).
        view._spinner.stop()
        view._frames = itertools.repeat("⠋")
        view._refresh_header()
        pilot.app.clear_notifications()
        screen.query_one(DirectionBar).input.cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(here), terminal_size=SIZE, run_before=run_before)


async def test_without_redis_the_list_follows_the_database_quietly_until_logout(
    runtime: Runtime,
) -> None:
    """No Redis set up (the default for one machine): the database is watched, the status
    line has nothing to add, and a logout stops the listening."""
    runtime.store.events.poll_seconds = 0.3
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads")
    other = Runtime(load_settings())
    try:
        app = make_app(runtime)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = await listening(pilot, mode="polling")
            bar = screen.query_one(StatusBar)
            assert bar.live is None
            assert "live:" not in screen_text(app)[0]
            other.sessions.start(alice, "Glass Cartographer", {}, "gemma3:latest")
            await wait_until(pilot, lambda: "Glass Cartographer" in titles(screen))
            thread = screen.changes.live._thread
            assert thread is not None and thread.is_alive()
            screen.action_logout()
            await wait_until(pilot, lambda: not thread.is_alive())
            assert screen.changes.live.mode is None
    finally:
        other.close()


@pytest.mark.redis
async def test_a_story_opened_while_another_window_writes_it_follows_the_part(
    two: tuple[Runtime, Runtime, int],
) -> None:
    """Opened (here, at start) in the middle of a part written elsewhere: the text so far
    (its last checkpoint), then the rest as it comes; Enter waits from the start; the end shows
    the part as saved."""
    from storyterm.core.basics import PartState

    here, there, alice = two
    seed_session(here, alice, "Winter Orchard", age=timedelta(days=2))
    letter = seed_session(here, alice, "The Keeper's Letter", parts=1, age=timedelta(days=1))
    sessions = there.sessions
    part = sessions.begin_part(alice, letter, direction="Mara reads", model_name="gemma3:latest")
    live = sessions.live_text(alice, part)
    live.add("The seal broke. ")
    sessions.checkpoint_part(alice, letter, part.seq, "The seal broke. ", expect=part)
    app = make_app(here)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await listening(pilot)
        story = screen.story
        await wait_until(pilot, lambda: story.shown_session_id == letter)
        await wait_until(pilot, lambda: story.part_view(2).elsewhere)
        assert screen.query_one(DirectionBar).elsewhere
        live.add("Mara read on.")
        await wait_until(
            pilot, lambda: story.part_view(2).shown_text == "The seal broke. Mara read on."
        )
        sessions.checkpoint_part(
            alice, letter, part.seq, "The seal broke. Mara read on.", state=PartState.DONE
        )
        await wait_until(pilot, lambda: not story.part_view(2).streaming)
        assert story.part_view(2).shown_text == "The seal broke. Mara read on."
        assert not screen.query_one(DirectionBar).elsewhere


async def test_a_bug_in_the_listener_is_told_as_any_other(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, unexpected_errors: list[BaseException]
) -> None:
    """The listening thread is not a Textual worker: a bug there still reaches the writer
    through the app (and its error log), not as a traceback printed over the screen."""
    from storyterm.core.events import Subscriber

    def broken(self: Subscriber, timeout: float = 1.0) -> list[Any]:
        raise RuntimeError("a bug in the listener")

    monkeypatch.setattr(Subscriber, "next", broken)
    app = make_app(runtime)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await wait_until(pilot, lambda: unexpected_errors)
        assert [str(e) for e in unexpected_errors] == ["a bug in the listener"]
        unexpected_errors.clear()
        thread = main(app).changes.live._thread
        assert thread is not None
        await wait_until(pilot, lambda: not thread.is_alive())  # it ended; the app goes on
