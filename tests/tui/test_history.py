"""Takes, undo and the trash from the TUI, key by key (Textual's Pilot, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from textual.widgets import OptionList, TextArea

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.confirm import ConfirmScreen
from storyterm.tui.screens.part_editor import PartEditorScreen
from storyterm.tui.screens.trash import TrashScreen
from storyterm.tui.widgets.direction import DirectionBar
from storyterm.tui.widgets.part_view import PartHeader, PartView
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (140, 40)


def main(app) -> MainScreen:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, MainScreen), app.screen
    return app.screen


def notifications(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


def header(screen: MainScreen, seq: int) -> str:
    return screen.query_one(f"#part-{seq}", PartView).query_one(PartHeader).title.plain


def shown(screen: MainScreen, seq: int) -> str:
    return screen.query_one(StoryView).loaded_part(seq).content  # type: ignore[union-attr]


def contents(runtime: Runtime, sid: str) -> list[str]:
    return [p.content for p in runtime.sessions.all_parts(writer_id(runtime), sid)]


async def select(pilot, seq: int) -> None:  # type: ignore[no-untyped-def]
    """Select part `seq` with [ and ] in the story pane."""
    story = main(pilot.app).query_one(StoryView)
    story.focus()
    while story.selected != seq:
        before = story.selected
        await pilot.press(
            "left_square_bracket"
            if story.selected is None or story.selected > seq
            else "right_square_bracket"
        )
        assert story.selected != before or story.selected == seq


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=30) as server:
        yield server


async def test_the_header_shows_the_take_and_less_greater_flip_it_in_place(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    first = contents(runtime, sid)[1]
    runtime.history.edit(alice, sid, 2, content="The sisters turned back at dawn.")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await wait_until(pilot, lambda: "take 2/2 · edited" in header(screen, 2))
        assert header(screen, 1) == "Part 1" and header(screen, 3) == "Part 3"
        # The last part has one take: < and > are not offered for it.
        await pilot.press("escape")
        assert not screen.check_action("previous_take", ())
        await select(pilot, 2)
        assert screen.check_action("previous_take", ()) and screen.check_action("next_take", ())
        view = screen.query_one("#part-2", PartView)

        await pilot.press("less_than_sign")
        await wait_until(pilot, lambda: shown(screen, 2) == first)
        assert header(screen, 2) == "Part 2  take 1/2"
        assert screen.query_one("#part-2", PartView) is view  # updated in place
        assert contents(runtime, sid)[1] == first
        stored = runtime.sessions.get(alice, sid).word_count
        await wait_until(pilot, lambda: screen.session.word_count == stored)

        await pilot.press("greater_than_sign")
        await wait_until(pilot, lambda: shown(screen, 2) == "The sisters turned back at dawn.")
        # Keys pressed quickly all count, in order: < > < ends on take 1.
        await pilot.press("less_than_sign", "greater_than_sign", "less_than_sign")
        await wait_until(pilot, lambda: contents(runtime, sid)[1] == first)
        await wait_until(pilot, lambda: shown(screen, 2) == first)

        # A part with one take has nothing to flip: the keys are not offered; the palette's
        # command says how to get another take.
        await select(pilot, 3)
        assert not screen.check_action("next_take", ())
        screen.action_next_take()
        await wait_until(pilot, lambda: any("Part 3 has one take" in m for m in notifications(app)))


async def test_ctrl_r_on_an_older_part_writes_it_a_new_take(
    runtime: Runtime, fake: FakeOllama
) -> None:
    runtime.settings.ollama_host = fake.url
    fake.reply = "The first part, told again from the ferry."
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    before = contents(runtime, sid)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        await select(pilot, 1)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: not screen.generating and shown(screen, 1).startswith("The first part"),
        )
        assert contents(runtime, sid) == [fake.reply, *before[1:]]
        takes = runtime.history.takes(alice, sid, 1)
        assert [t.content for t in takes] == [before[0], fake.reply]
        # In place, still selected, the parts after it untouched.
        assert [v.seq for v in story.part_views] == [1, 2, 3]
        assert story.selected == 1 and story.part_view(1).has_class("-selected")
        assert header(screen, 1) == "Part 1  take 2/2"
        assert shown(screen, 3) == before[2]
        assert screen.session.part_count == 3
        assert any("take 2 of 2" in m for m in notifications(app))
        await pilot.press("less_than_sign")
        await wait_until(pilot, lambda: shown(screen, 1) == before[0])


async def test_f_finishes_an_interrupted_part_from_where_it_stopped(
    runtime: Runtime, fake: FakeOllama
) -> None:
    from storyterm.core.basics import PartState
    from storyterm.tui.screens.help import HelpScreen

    runtime.settings.ollama_host = fake.url
    fake.reply = "keeper woke at last."
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    stopped = "The storm broke over the harbour, and the"
    runtime.sessions.checkpoint_part(alice, sid, 2, stopped, state=PartState.INTERRUPTED)
    before = contents(runtime, sid)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        # A part that ended normally is not finished: the writer is told what to do instead.
        await pilot.press("escape", "F")
        await wait_until(
            pilot,
            lambda: (
                "Part 3 ended normally; regenerate it for a new take, or write the next part."
                in notifications(app)
            ),
        )
        assert not screen.generating and fake.chat_requests == []

        await select(pilot, 2)
        await pilot.press("F")
        await wait_until(pilot, lambda: not screen.generating and shown(screen, 2) != stopped)
        finished = stopped + " keeper woke at last."
        assert shown(screen, 2) == finished
        assert story.part_view(2).shown_text.rstrip().endswith("keeper woke at last.")
        assert contents(runtime, sid) == [before[0], finished, before[2]]
        assert header(screen, 2) == "Part 2  take 2/2"
        assert [v.seq for v in story.part_views] == [1, 2, 3] and story.selected == 2
        assert fake.chat_requests[-1].messages[-1]["content"].endswith(stopped)
        assert any("Part 2 finished as take 2 of 2" in m for m in notifications(app))
        # The interrupted take is kept: undo shows it again.
        await pilot.press("u")
        await wait_until(pilot, lambda: shown(screen, 2) == stopped)
        assert contents(runtime, sid)[1] == stopped

        # F is in the help, with what it does.
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        writing = dict(dict(app.screen._sections)["Writing"])
        assert "where it was interrupted" in writing["F"]


async def test_an_edit_is_a_take_and_less_than_shows_the_one_before(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    before = contents(runtime, sid)[2]
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "E")
        await wait_until(pilot, lambda: isinstance(app.screen, PartEditorScreen))
        app.screen.query_one("#content", TextArea).text = "The sisters turned back at dawn."
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: "Part 3: take 2 (your edit) — < > to compare." in notifications(app)
        )
        assert header(screen, 3) == "Part 3  take 2/2 · edited"
        await pilot.press("less_than_sign")
        await wait_until(pilot, lambda: shown(screen, 3) == before)
        assert header(screen, 3) == "Part 3  take 1/2"
        assert runtime.sessions.open(alice, sid).parts[-1].content == before


async def test_u_undoes_a_flip_and_ctrl_y_redoes_it(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    first = contents(runtime, sid)[1]
    runtime.history.edit(alice, sid, 2, content="Second thoughts.")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "less_than_sign")
        await wait_until(pilot, lambda: shown(screen, 2) == first)
        await pilot.press("u")
        await wait_until(pilot, lambda: shown(screen, 2) == "Second thoughts.")
        assert any("take 2 again" in m for m in notifications(app))
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: shown(screen, 2) == first)
        await pilot.press("ctrl+z")  # the other undo key
        await wait_until(pilot, lambda: shown(screen, 2) == "Second thoughts.")
        assert contents(runtime, sid)[1] == "Second thoughts."


async def test_undo_works_after_a_restart(runtime: Runtime) -> None:
    """The undo log is data: a change made before this run (here, an edit made in another
    window or an earlier run) is undone from the TUI."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    first = contents(runtime, sid)[1]
    runtime.history.edit(alice, sid, 2, content="Edited last week.")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "u")
        await wait_until(pilot, lambda: shown(screen, 2) == first)
        await pilot.press("u")  # that was the only change
        await wait_until(pilot, lambda: any("nothing to undo" in m for m in notifications(app)))


async def test_d_moves_the_story_to_the_trash_and_u_brings_it_back(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    keep = seed_session(runtime, alice, "Winter Orchard", parts=1, age=timedelta(days=1))
    doomed = seed_session(runtime, alice, "Glass Cartographer", parts=4, age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.query_one("#question").visual
        assert str(question) == "Move “Glass Cartographer” to the trash?"
        title = next(s for s in question.spans if "bold" in str(s.style))  # type: ignore[attr-defined]
        assert str(question)[title.start : title.end] == "“Glass Cartographer”"
        detail = str(app.screen.query_one("#detail").visual)
        assert "4 parts" in detail and "trash" in detail and "u right after" in detail
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)
        assert "“Glass Cartographer” moved to the trash — u to undo." in notifications(app)
        await wait_until(pilot, lambda: screen.session is not None and screen.session.id == keep)

        await pilot.press("u")  # although another story is open now
        await wait_until(pilot, lambda: screen.panel.loaded_count == 2)
        await wait_until(pilot, lambda: screen.session is not None and screen.session.id == doomed)
        assert runtime.sessions.count(alice) == 2
        assert any("back from the trash" in m for m in notifications(app))
        await wait_until(pilot, lambda: [v.seq for v in screen.story.part_views] == [1, 2, 3, 4])
        # Redo sends it back to the trash.
        await pilot.press("ctrl+y")
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)
        assert runtime.sessions.count(alice) == 1


async def test_x_moves_the_selected_part_to_the_trash_and_u_puts_it_back(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    before = contents(runtime, sid)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        await select(pilot, 2)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert str(app.screen.query_one("#question").visual) == (
            "Move part 2 of “Salt Roads” to the trash?"
        )
        await pilot.press("n")  # kept
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert contents(runtime, sid) == before
        await pilot.press("x", "y")
        await wait_until(pilot, lambda: [v.seq for v in story.part_views] == [1, 2])
        assert [shown(screen, 1), shown(screen, 2)] == [before[0], before[2]]
        assert screen.session.part_count == 2
        assert "Part 2 moved to the trash — u to undo." in notifications(app)
        await pilot.press("u")
        await wait_until(pilot, lambda: [v.seq for v in story.part_views] == [1, 2, 3])
        await wait_until(pilot, lambda: shown(screen, 2) == before[1])
        assert shown(screen, 3) == before[2]
        assert contents(runtime, sid) == before
        await wait_until(pilot, lambda: screen.session.part_count == 3)


async def test_the_trash_restores_and_deletes_for_good_after_asking(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Winter Orchard", parts=1, age=timedelta(days=1))
    gone = seed_session(runtime, alice, "Glass Cartographer", parts=2, age=timedelta(hours=2))
    back = seed_session(runtime, alice, "Salt Roads", parts=3, age=timedelta(hours=1))
    runtime.history.delete(alice, gone)
    runtime.history.delete(alice, back)  # the newest in the trash: first in the list
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        assert screen.panel.loaded_count == 1
        await pilot.press("escape", "T")
        await wait_until(pilot, lambda: isinstance(app.screen, TrashScreen))
        trash = app.screen
        options = trash.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count == 2)
        first = str(options.get_option_at_index(0).prompt)
        assert "story" in first and "“Salt Roads”" in first and "deleted just now" in first
        await pilot.press("enter")  # restore the highlighted
        await wait_until(pilot, lambda: options.option_count == 1)
        assert "“Salt Roads” is back among your stories." in notifications(app)
        assert runtime.sessions.get(alice, back).deleted_at is None

        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = str(app.screen.query_one("#question").visual)
        assert question == "Delete “Glass Cartographer” for good?"
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is trash)
        assert options.option_count == 1
        await pilot.press("D", "y")
        await wait_until(pilot, lambda: app.screen is trash and options.option_count == 0)
        await wait_until(
            pilot, lambda: "The trash is empty" in str(trash.query_one("#trash-note").visual)
        )
        assert runtime.history.trash(alice) == []

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(pilot, lambda: screen.panel.loaded_count == 2)  # Salt Roads is back


async def test_a_part_restored_from_the_trash_shows_in_the_open_story(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    before = contents(runtime, sid)
    runtime.history.delete_part(alice, sid, 3)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        assert [v.seq for v in story.part_views] == [1, 2]
        await pilot.press("escape", "T")
        await wait_until(pilot, lambda: isinstance(app.screen, TrashScreen))
        options = app.screen.query_one(OptionList)
        await wait_until(pilot, lambda: options.option_count == 1)
        assert "part 3 of “Salt Roads”" in str(options.get_option_at_index(0).prompt)
        await pilot.press("r", "escape")
        await wait_until(pilot, lambda: [v.seq for v in story.part_views] == [1, 2, 3])
        assert shown(screen, 3) == before[2]
        await wait_until(pilot, lambda: screen.session.part_count == 3)


async def test_C_reopens_a_completed_story_and_u_closes_it_again(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Winter Orchard", parts=2, status="completed")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        bar = screen.query_one(DirectionBar)
        assert bar.input.disabled and "C to reopen" in str(bar.query_one("#why").visual)
        assert screen.check_action("reopen", ()) and not screen.check_action("complete", ())
        await pilot.press("C")
        await wait_until(pilot, lambda: str(screen.session.status) == "active")
        assert not bar.input.disabled
        assert str(runtime.sessions.get(alice, sid).status) == "active"
        assert any(m.startswith("Reopened “Winter Orchard”") for m in notifications(app))
        await pilot.press("escape", "u")
        await wait_until(pilot, lambda: str(screen.session.status) == "completed")
        assert bar.input.disabled


async def test_u_in_the_direction_input_types_a_u(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    runtime.history.edit(alice, sid, 2, content="Second thoughts.")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("u", "less_than_sign", "greater_than_sign", "x", "T", "C")
        assert screen.query_one(DirectionBar).input.text == "u<>xTC"
        assert contents(runtime, sid)[1] == "Second thoughts."
