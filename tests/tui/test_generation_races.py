"""A part written from the TUI when something else touched the story pane at the same moment:
the writer is never left with a story stuck "generating"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from msgspec import structs
from textual.pilot import Pilot

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.messages import PartsReloaded, StoryOpened
from storyterm.tui.widgets.part_view import PartView, provisional_part
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


@asynccontextmanager
async def salt_roads(
    runtime: Runtime,
) -> AsyncIterator[tuple[Pilot[None], MainScreen, StoryView, int, str]]:
    """The app on alice's one-part story "Salt Roads": the pilot, the main screen, the story
    pane, alice and the story."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        yield pilot, screen, screen.query_one(StoryView), alice, sid


async def written(pilot: Pilot[None], screen: MainScreen, parts: int) -> None:
    """Until the story holds `parts` parts and none is being written."""
    await wait_until(pilot, lambda: screen.session.part_count == parts and not screen.generating)


@pytest.fixture
def writing(runtime: Runtime) -> Iterator[tuple[Runtime, FakeOllama]]:
    with FakeOllama(models=["gemma3:latest"], tokens=5) as fake:
        runtime.settings.ollama_host = fake.url
        yield runtime, fake


async def test_a_part_already_shown_by_a_read_is_taken_over_by_the_part_being_written(
    writing: tuple[Runtime, FakeOllama],
) -> None:
    # A read of the story (the live watcher, a reload) that ended just before Enter can show
    # the part about to be written as the database held it; the part being written takes its
    # place instead of failing to mount beside it under the same id.
    runtime, fake = writing
    fake.reply = "The lamp went out."
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        await story.mount(PartView(provisional_part(screen.session, 2, "as read")), before="#newer")
        await pilot.press(*"Go on", "enter")
        await written(pilot, screen, 2)
        assert [view.seq for view in story.part_views] == [1, 2]
        assert story.loaded_part(2).content == "The lamp went out."
        assert runtime.sessions.open(alice, sid).parts[-1].content == "The lamp went out."


async def test_a_part_that_cannot_be_shown_ends_the_run_and_the_next_enter_writes(
    writing: tuple[Runtime, FakeOllama],
    monkeypatch: pytest.MonkeyPatch,
    unexpected_errors: list[BaseException],
) -> None:
    runtime, fake = writing
    fake.reply = "Rain."
    real_add_part = StoryView.add_part
    calls = 0

    async def add_part_once_broken(self: StoryView, part):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the pane could not take the part")
        return await real_add_part(self, part)

    monkeypatch.setattr(StoryView, "add_part", add_part_once_broken)
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        await pilot.press(*"First", "enter")
        # The run ends (it is not left "generating"), and the pane shows what is stored: the
        # storyteller, told to stop, kept whatever it had written as part 2.
        await wait_until(pilot, lambda: calls == 1 and not screen.generating)
        stored = runtime.sessions.open(alice, sid).parts
        await wait_until(
            pilot, lambda: [v.seq for v in story.part_views] == [p.seq for p in stored]
        )
        await pilot.press(*"Second", "enter")
        await wait_until(
            pilot,
            lambda: (
                calls == 2
                and not screen.generating
                and screen.session.part_count == len(stored) + 1
            ),
        )
        assert runtime.sessions.open(alice, sid).parts[-1].content == "Rain."
        assert story.part_views[-1].part.content == "Rain."
    # The writer was told (the error log), and nothing else went wrong.
    assert [str(e) for e in unexpected_errors] == ["the pane could not take the part"]
    unexpected_errors.clear()


async def test_a_new_version_of_a_part_that_arrives_while_its_view_is_being_mounted_is_shown(
    runtime: Runtime, unexpected_errors: list[BaseException]
) -> None:
    # A reload of the pane mounts a part's view; a live event for that part (written in
    # another window) can reach it before the view is composed. It used to fail looking for
    # the view's direction line (the writer got an error notice); the new version is shown.
    async with salt_roads(runtime) as (pilot, screen, story, _alice, _sid):
        read = provisional_part(screen.session, 2, "as the reload read it")
        view = PartView(read)
        mounting = story.mount(view, before="#newer")
        view.update_part(structs.replace(read, direction="as the other window wrote it"))
        await mounting
        await pilot.pause()
        assert "as the other window wrote it" in str(view.query_one(".direction").render())
    assert unexpected_errors == []


async def test_a_read_of_the_story_made_just_before_enter_leaves_the_part_being_written(
    runtime: Runtime,
) -> None:
    # A reload of the pane (after the part before ended) read the story without the part
    # that Enter has just put on screen; it used to take that part's view away, and the run
    # failed to show its first words (the writer got an error notice; seen under load).
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        read_before = runtime.sessions.open(alice, sid).parts
        view = await story.add_part(provisional_part(screen.session, 2, "Go on"))
        story.post_message(PartsReloaded(sid, read_before, len(read_before)))
        await pilot.pause()
        assert story.part_view(2) is view and view.is_attached
        assert [v.seq for v in story.part_views] == [1, 2]
        view.begin_stream("waiting…")  # what the run does next


async def test_a_read_of_the_story_that_lands_after_the_part_is_written_does_not_take_it_away(
    writing: tuple[Runtime, FakeOllama],
) -> None:
    # The same read, landing after the part was written and saved: the part stayed in the
    # database but left the pane (the bench's "part did not show", under load).
    runtime, fake = writing
    fake.reply = "The lamp went out."
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        read_before = runtime.sessions.open(alice, sid).parts
        asked_before = story._own_changes
        await pilot.press(*"Go on", "enter")
        await written(pilot, screen, 2)
        story.post_message(PartsReloaded(sid, read_before, len(read_before), asked_before))
        await pilot.pause()
        await wait_until(pilot, lambda: story.part_view(2) is not None)
        await pilot.pause(0.2)
        assert [v.seq for v in story.part_views] == [1, 2]
        assert story.loaded_part(2).content == "The lamp went out."


async def test_enter_the_moment_a_part_ends_numbers_the_next_part_from_the_story_as_it_is_now(
    writing: tuple[Runtime, FakeOllama],
) -> None:
    # The screen hears of the story's new counts a moment after a part ends; an Enter in that
    # moment (the session it holds still one part behind) put the next part on screen under
    # the number of the part just written, in its place, and the pane was read again.
    runtime, fake = writing
    fake.reply = "The lamp went out."
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        before = screen.session
        await pilot.press(*"Go on", "enter")
        await written(pilot, screen, 2)
        second = story.part_view(2)
        screen.column.generate(before, "And on", regenerate=False)  # as it was before part 2
        await written(pilot, screen, 3)
        await pilot.pause(0.2)
        assert story.part_view(2) is second  # never taken off the pane
        assert [v.seq for v in story.part_views] == [1, 2, 3]
        stored = runtime.sessions.open(alice, sid).parts
        assert [p.direction for p in stored][1:] == ["Go on", "And on"]


async def test_a_reading_of_the_story_asked_for_before_enter_waits_for_the_part_to_end(
    writing: tuple[Runtime, FakeOllama], unexpected_errors: list[BaseException]
) -> None:
    # A reading of the open story that lands while a part is being written would put the pane
    # back as the story was, taking the part being written away: its run failed, read the
    # story again, and the next Enter failed the same way (seen under load in the bench).
    runtime, fake = writing
    fake.tokens, fake.hang_after = 40, 10  # the part holds after 10 tokens until released
    async with salt_roads(runtime) as (pilot, screen, story, alice, sid):
        read_before = runtime.sessions.open(alice, sid)
        await pilot.press(*"Go on", "enter")
        await wait_until(pilot, lambda: bool(fake.chat_requests))
        await wait_until(pilot, lambda: story.part_view(2) is not None and screen.generating)
        writing_view = story.part_view(2)
        story.post_message(StoryOpened(read_before, False))
        await pilot.pause(0.1)
        assert story.part_view(2) is writing_view and screen.generating
        fake.release_hang()
        await written(pilot, screen, 2)
        # Read again once the part ended: the pane shows what is stored.
        stored = runtime.sessions.open(alice, sid).parts
        await wait_until(pilot, lambda: story.loaded_part(2) == stored[-1])
        assert str(stored[-1].state) == "done"
    assert unexpected_errors == []
