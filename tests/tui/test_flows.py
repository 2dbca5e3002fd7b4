"""The TUI driven key by key, as a writer uses it (Textual's Pilot, real SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea

from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.bible import BibleScreen
from storyterm.tui.screens.confirm import ConfirmScreen
from storyterm.tui.screens.help import HelpScreen
from storyterm.tui.screens.new_session import NewSessionScreen
from storyterm.tui.screens.part_editor import PartEditorScreen
from storyterm.tui.state import STATE_FILE
from storyterm.tui.widgets.direction import DirectionBar, DirectionInput
from storyterm.tui.widgets.filter_bar import FilterBar
from storyterm.tui.widgets.part_view import PartHeader, PartView
from storyterm.tui.widgets.session_list import SessionsPanel
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import (
    bulk_parts,
    make_app,
    ready,
    screen_text,
    seed_session,
    wait_until,
    writer_id,
)

SIZE = (140, 40)


def listed_titles(panel: SessionsPanel) -> list[str]:
    """The titles in the session list, top to bottom."""
    return [panel._sessions[o.id].title for o in panel.session_list.options]


def main(app) -> MainScreen:  # type: ignore[no-untyped-def]
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


def notifications(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.message for n in app._notifications]


async def test_first_run_shows_an_empty_room_and_reports_startup(
    runtime: Runtime, tmp_path: Path
) -> None:
    report = tmp_path / "startup.json"
    runtime.settings.startup_report = report
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        # Measured from the first import of storyterm (in a test run, the session start).
        assert app.startup_seconds is not None and app.startup_seconds > 0
        assert screen.panel.loaded_count == 0
        assert "No stories yet" in str(screen.query_one("#empty-list").visual)
        bar = screen.query_one(DirectionBar)
        assert bar.input.disabled and "Press n" in str(bar.query_one("#why").visual)
        status = screen.query_one(StatusBar)
        assert status.database == "sqlite" and status.cache == "disabled"
        assert status.ollama == "down"
        await wait_until(pilot, report.exists)
    data = json.loads(report.read_text())
    assert data["startup_seconds"] == pytest.approx(app.startup_seconds, abs=1e-3)
    assert data["sessions_loaded"] == 0


async def test_the_newest_session_opens_on_start_with_the_input_focused(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Older story", parts=2, age=timedelta(days=3))
    newest = seed_session(runtime, alice, "Newest story", parts=3, age=timedelta(minutes=5))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        assert screen.session is not None and screen.session.id == newest
        story = screen.query_one(StoryView)
        await wait_until(pilot, lambda: [v.seq for v in story.part_views] == [1, 2, 3])
        assert isinstance(app.focused, DirectionInput)
        assert screen.panel.highlighted_id == newest


async def test_new_session_form_creates_and_opens_a_story(runtime: Runtime) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        form = app.screen
        # Ollama is down here: the form still works, says so, and preselects the default.
        await wait_until(pilot, lambda: form.query_one("#model-note").display)
        assert "Ollama is not running" in str(form.query_one("#model-note").visual)
        assert form.query_one("#model", Select).value == "gemma3:latest"
        # An empty title is refused in the form, nothing is lost.
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, NewSessionScreen)
        assert "needs a title" in str(form.query_one("#error").visual)
        await pilot.press(*"Salt Roads")
        await pilot.press("tab", *"sea saga")
        form.query_one("#premise", TextArea).text = "Two sisters sail the salt roads."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        screen = main(app)
        await wait_until(pilot, lambda: screen.session is not None)
        session = screen.session
        assert session is not None and session.title == "Salt Roads"
        assert session.session_metadata == {
            "genre": "sea saga",
            "premise": "Two sisters sail the salt roads.",
        }
        assert session.model_name == "gemma3:latest"
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)
        await wait_until(pilot, lambda: isinstance(app.focused, DirectionInput))
        assert "has no parts yet" in str(screen.query_one("#story-empty").visual)


async def test_cancelling_a_filled_form_asks_first(runtime: Runtime) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"Half a title")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep editing
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        assert app.screen.query_one("#title", Input).value == "Half a title"
        await pilot.press("escape", "y")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_pause_resume_complete_with_the_reason_under_the_input(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "The Keeper's Letter", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        bar = screen.query_one(DirectionBar)
        # Whatever the writer typed survives every status move.
        await pilot.press(*"Mara reads it")
        await pilot.press("escape")  # leave the input: letters are commands now
        assert not isinstance(app.focused, Input)
        await pilot.press("p")
        await wait_until(pilot, lambda: str(screen.session.status) == "paused")
        assert bar.input.disabled
        why = str(bar.query_one("#why").visual)
        assert "is paused" in why and "Press r to resume" in why
        assert str(runtime.sessions.get(alice, sid).status) == "paused"

        await pilot.press("r")
        await wait_until(pilot, lambda: str(screen.session.status) == "active")
        assert not bar.input.disabled
        await wait_until(pilot, lambda: isinstance(app.focused, DirectionInput))
        assert bar.input.text == "Mara reads it"

        await pilot.press("escape", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "The Keeper's Letter" in str(app.screen.query_one("#question").visual)
        await pilot.press("y")
        await wait_until(pilot, lambda: str(screen.session.status) == "completed")
        why = str(bar.query_one("#why").visual)
        assert "completed and read-only" in why and "e to export" in why
        assert bar.input.text == "Mara reads it"
        # The list row shows the new status mark.
        row = screen.panel.session_list.get_option(sid)
        assert str(row.prompt).startswith("✓")


async def test_delete_asks_naming_the_title_and_n_keeps_the_story(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    keep = seed_session(runtime, alice, "Winter Orchard", age=timedelta(days=1))
    doomed = seed_session(runtime, alice, "Glass Cartographer", parts=4, age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert "Move “Glass Cartographer” to the trash?" in str(
            dialog.query_one("#question").visual
        )
        assert "4 parts" in str(dialog.query_one("#detail").visual)
        await pilot.press("enter")  # the focused button is the safe one
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert runtime.sessions.get(alice, doomed).title == "Glass Cartographer"

        await pilot.press("d", "y")
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)
        assert "“Glass Cartographer” moved to the trash — u to undo." in notifications(app)
        assert runtime.sessions.count(alice) == 1
        await wait_until(pilot, lambda: screen.session is not None and screen.session.id == keep)


async def test_filter_tabs_and_search_run_in_the_database(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", status="paused", age=timedelta(hours=3))
    seed_session(runtime, alice, "Winter Orchard", status="completed", age=timedelta(hours=2))
    seed_session(runtime, alice, "The Keeper's Letter", age=timedelta(hours=1))
    seed_session(runtime, alice, "Salt and Smoke", age=timedelta(minutes=30))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        panel = screen.query_one(SessionsPanel)

        def titles() -> list[str]:
            return listed_titles(panel)

        await pilot.press("escape", "3")
        await wait_until(pilot, lambda: titles() == ["Salt Roads"])
        assert panel.total == 1
        await pilot.press("4")
        await wait_until(pilot, lambda: titles() == ["Winter Orchard"])
        await pilot.press("2")
        await wait_until(pilot, lambda: titles() == ["Salt and Smoke", "The Keeper's Letter"])
        await pilot.press("1", "slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"salt")
        await wait_until(pilot, lambda: titles() == ["Salt and Smoke", "Salt Roads"])
        await pilot.press(*"%")  # LIKE wildcards are searched for literally
        await wait_until(pilot, lambda: titles() == [])
        assert "No titles match" in str(panel.query_one("#empty-list").visual)
        await pilot.press("escape")  # clears the search
        await wait_until(pilot, lambda: len(titles()) == 4)
        await pilot.press("escape")  # back to the list
        assert app.focused is panel.session_list
        # The filters take a click, and left/right once focused; the bar shows which is on.
        bar = panel.query_one(FilterBar)
        await pilot.click(FilterBar, offset=(13, 0))  # " Paused " spans cells 13-20
        await wait_until(pilot, lambda: titles() == ["Salt Roads"])
        assert bar.active == "paused" and app.focused is bar
        await pilot.press("right")
        await wait_until(pilot, lambda: titles() == ["Winter Orchard"])
        await pilot.press("right")  # round to the first
        await wait_until(pilot, lambda: len(titles()) == 4)
        await pilot.press("left", "left")
        await wait_until(pilot, lambda: titles() == ["Salt Roads"])
        labels, under = str(bar.render()).split("\n")
        start = labels.index(" Paused ")
        assert under[start : start + 8] == "╸" + "━" * 6 + "╺"  # under "Paused"


async def test_every_story_in_the_list_takes_two_lines_however_long_its_title(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    long = "The Cartographer of the Drowned Lighthouse and the Letters Nobody Sent"
    seed_session(runtime, alice, "Salt Roads", age=timedelta(hours=3))
    seed_session(runtime, alice, long, parts=2, age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        text, _raw = screen_text(app)
        # The session panel: the left column of the screen, under the title bar.
        screen = text.splitlines()[1:]
        width = screen[0].index("╮") + 1
        lines = [line[:width] for line in screen]
        rows = [n for n, line in enumerate(lines) if "Cartographer" in line or "Salt" in line]
        # The long title ends in an ellipsis on its own line; no word is wrapped below it.
        assert len(rows) == 2 and "…" in lines[rows[0]], lines
        assert "Nobody" not in "".join(lines)
        assert "2p · " in lines[rows[0] + 1] and rows[1] == rows[0] + 2


async def test_a_story_that_changes_moves_to_the_top_of_the_list(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", age=timedelta(hours=3))
    seed_session(runtime, alice, "Winter Orchard", age=timedelta(hours=2))
    seed_session(runtime, alice, "The Keeper's Letter", age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        panel = screen.query_one(SessionsPanel)

        def titles() -> list[str]:
            return listed_titles(panel)

        assert titles() == ["The Keeper's Letter", "Winter Orchard", "Salt Roads"]
        await pilot.press("escape")
        app.set_focus(panel.session_list)
        await pilot.press("down", "down", "enter")  # open the oldest
        await wait_until(pilot, lambda: screen.session.title == "Salt Roads")
        await pilot.press("escape", "p")  # pausing it is a change: newest first now
        await wait_until(pilot, lambda: titles()[0] == "Salt Roads")
        assert titles() == ["Salt Roads", "The Keeper's Letter", "Winter Orchard"]
        # The cursor went with the story, and the row shows it paused.
        assert panel.highlighted_id == screen.session.id
        assert str(panel.session_list.get_option(screen.session.id).prompt).startswith("‖")
        # As the database orders them: a reload gives the same list.
        await pilot.press("f5")
        await pilot.pause(0.3)
        assert titles() == ["Salt Roads", "The Keeper's Letter", "Winter Orchard"]


async def test_the_session_list_loads_pages_as_it_scrolls(runtime: Runtime) -> None:
    from tests.tui.helpers import bulk_sessions

    alice = writer_id(runtime)
    bulk_sessions(runtime, alice, 10_000)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        panel = screen.panel
        assert panel.total == 10_000
        assert panel.loaded_count == 50  # one page, never the whole table
        await pilot.press("escape")
        await pilot.press("end")  # to the last loaded row: the next page comes in
        await wait_until(pilot, lambda: panel.loaded_count == 100)
        await pilot.press("end")
        await wait_until(pilot, lambda: panel.loaded_count == 150)
        titles = listed_titles(panel)
        assert titles[:2] == ["Bulk story 00000", "Bulk story 00001"]
        assert titles[-1] == "Bulk story 00149"
        assert len(set(titles)) == 150
        # A filter starts again from the first page of matches.
        await pilot.press("3")
        await wait_until(pilot, lambda: panel.total == 3333 and panel.loaded_count == 50)


async def test_a_long_story_pages_older_parts_in_and_keeps_the_window_bounded(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "The Long Voyage")
    bulk_parts(runtime, sid, 200)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)

        def seqs() -> list[int]:
            return [v.seq for v in story.part_views]

        # A screenful first; the rest of the loaded tail as soon as the view nears its top.
        await wait_until(pilot, lambda: seqs() == list(range(181, 201)) and not story._paging)
        assert "180 earlier parts" in str(story.query_one("#older").visual)
        story.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: seqs()[0] == 161)
        assert seqs() == list(range(161, 201))
        # The writer's place is kept: part 181 is still where the view was (at the top).
        await wait_until(pilot, lambda: story.scroll_y > 0)
        # Keep going up to the beginning: the window never holds more than 60 parts.
        for _ in range(20):
            if seqs()[0] == 1:
                break
            first = seqs()[0]
            await pilot.press("home")
            await wait_until(pilot, lambda first=first: seqs()[0] < first)
            assert len(seqs()) <= 60
        assert seqs()[0] == 1
        assert "the beginning" in str(story.query_one("#older").visual)
        assert story.has_more_after
        # End jumps back to the newest parts.
        await pilot.press("end")
        await wait_until(pilot, lambda: seqs()[-1] == 200 and not story.has_more_after)


async def test_edit_the_last_part(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "E")
        await wait_until(pilot, lambda: isinstance(app.screen, PartEditorScreen))
        editor = app.screen
        assert editor.part.seq == 3
        editor.query_one("#content", TextArea).text = "The sisters turned back at dawn."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(
            pilot,
            lambda: (
                screen.query_one(StoryView).loaded_part(3).content
                == "The sisters turned back at dawn."
            ),
        )
        assert runtime.sessions.open(alice, sid).parts[-1].content.startswith("The sisters")
        stored = runtime.sessions.get(alice, sid).word_count
        await wait_until(pilot, lambda: screen.session.word_count == stored)


async def test_select_a_part_with_brackets_and_edit_it(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=3)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.query_one(StoryView)
        story.focus()
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert story.selected == 2
        assert story.part_view(2).has_class("-selected")
        assert "part 2 of 3" in str(story.border_title)
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, PartEditorScreen))
        assert app.screen.part.seq == 2
        await pilot.press("escape")  # nothing changed: closes at once
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_bible_editor_saves_the_story_details_and_summary(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", metadata={"genre": "sea saga", "x": 1})
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "b")
        await wait_until(pilot, lambda: isinstance(app.screen, BibleScreen))
        bible = app.screen
        assert bible.query_one("#genre", Input).value == "sea saga"
        bible.query_one("#tone", Input).value = "salt-bitter"
        bible.query_one("#summary", TextArea).text = "The sisters left port."
        bible.query_one("#title", Input).value = "Salt Roads (draft)"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        session = runtime.sessions.get(alice, sid)
        assert session.title == "Salt Roads (draft)"
        assert session.session_metadata == {"genre": "sea saga", "x": 1, "tone": "salt-bitter"}
        assert session.memory["summary"] == "The sisters left port."
        await wait_until(pilot, lambda: main(app).session.title == "Salt Roads (draft)")


async def test_a_refused_save_keeps_the_form_open_with_the_reason(runtime: Runtime) -> None:
    """The bible's save fails (a title the core refuses: only spaces): the form stays, says
    why, lets the writer fix it and save again; leaving with changes asks first."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "b")
        await wait_until(pilot, lambda: isinstance(app.screen, BibleScreen))
        bible = app.screen
        bible.query_one("#title", Input).value = "   "
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bible.query_one("#error").has_class("-shown"))
        assert "needs a title" in str(bible.query_one("#error").visual)
        assert not bible.query_one("#save").disabled
        assert runtime.sessions.get(alice, sid).title == "Salt Roads"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "story bible" in str(app.screen.query_one("#question").visual)
        await pilot.press("n")  # keep editing
        await wait_until(pilot, lambda: app.screen is bible)
        bible.query_one("#title", Input).value = "Salt Roads North"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert runtime.sessions.get(alice, sid).title == "Salt Roads North"


async def test_help_lists_every_key(runtime: Runtime) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = {str(s.visual).strip() for s in app.screen.query(".key")}
        for key in (
            "n", "w", "esc", "enter", "ctrl+j", "↑ ↓", "p", "r", "c", "C", "e", "ctrl+r", "< >",
            "E", "b", "v", "d", "x", "u / ctrl+z", "ctrl+y", "T", "/", "1-4", "f5", "? / f1",
            "[ ]", "ctrl+p", "q / ctrl+q",
        ):  # fmt: skip
            assert key in keys, key
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_every_command_is_in_the_palette(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in (
            "New", "Pause", "Resume", "Complete", "Reopen", "Export", "Regenerate",
            "Prev take", "Next take", "Edit part", "Bible", "Context", "Delete", "Delete part",
            "Undo", "Redo", "Trash", "Search", "Help", "Theme", "Quit",
        ):  # fmt: skip
            assert any(t.startswith(wanted) for t in titles), wanted
        pause = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Pause"))
        pause.callback()
        await wait_until(pilot, lambda: str(main(app).session.status) == "paused")


async def test_theme_is_remembered_between_runs(runtime: Runtime) -> None:
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.theme == "textual-dark"
        app.theme = "nord"
        state = runtime.settings.config_dir / STATE_FILE
        await wait_until(pilot, lambda: state.exists() and "nord" in state.read_text())
    again = make_app(runtime)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert again.theme == "nord"


async def test_a_theme_from_the_settings_is_the_first_choice(runtime: Runtime) -> None:
    runtime.settings.theme = "gruvbox"
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.theme == "gruvbox"
        assert not (runtime.settings.config_dir / STATE_FILE).exists()


async def test_an_unreachable_database_is_a_notification_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    runtime = Runtime(load_settings())
    app = make_app(runtime)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = main(app)
            await wait_until(pilot, lambda: notifications(app))
            message = notifications(app)[0]
            assert "Cannot open the database" in message and "STORYTERM_DATABASE_URL" in message
            status = screen.query_one(StatusBar)
            assert status.database_ok is False
            assert "Press F5 to try again" in str(screen.query_one("#story-empty").visual)
            # Keys that need the database say so instead of failing.
            await pilot.press("n")
            assert isinstance(app.screen, MainScreen)
    finally:
        runtime.close()


async def test_typed_direction_is_kept_when_writing_is_not_possible(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press(*"They reach the harbour", "enter")
        await pilot.pause()
        assert main(app).query_one(DirectionBar).input.text == "They reach the harbour"


async def test_a_story_deleted_elsewhere_leaves_the_list_with_a_message(
    runtime: Runtime,
) -> None:
    alice = writer_id(runtime)
    other = seed_session(runtime, alice, "Gone Elsewhere", age=timedelta(days=2))
    seed_session(runtime, alice, "Still Here", age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        runtime.sessions.delete(alice, other)  # to the trash, from another window
        await pilot.press("escape", "down")
        await wait_until(pilot, lambda: any("is in the trash" in m for m in notifications(app)))
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)


async def test_part_views_show_interrupted_parts_as_such(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    from storyterm.core.storage.tables import PartState

    runtime.sessions.checkpoint_part(alice, sid, 2, "Half a sen", state=PartState.INTERRUPTED)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        view = main(app).query_one("#part-2", PartView)
        assert "interrupted" in view.query_one(PartHeader).meta.plain
        assert "interrupted · text kept" in view.query_one(PartHeader).meta.plain


async def test_e_exports_the_story_and_names_the_folder(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads: a Voyage", parts=3, status="completed")
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("e")  # a completed story: the input is off, letters are commands
        await wait_until(pilot, lambda: any("Exported" in m for m in notifications(app)))
        message = next(m for m in notifications(app) if "Exported" in m)
        folder = Path(runtime.settings.export_dir).resolve()
        exported = [p for p in folder.iterdir() if p.name.startswith("salt-roads")]
        assert len(exported) == 1
        assert str(exported[0]) in message and "3 parts" in message
        assert (exported[0] / "part-003.md").exists()
        await pilot.press("e")  # again: updated in place
        await wait_until(pilot, lambda: any("already up to date" in m for m in notifications(app)))
        assert [p for p in folder.iterdir() if p.name.startswith("salt-roads")] == exported
