"""Snapshots of every screen (pytest-textual-snapshot, pinned in pyproject's test extra).

Times are pinned (tests/tui/helpers.NOW), the writer is "alice", Ollama is a closed port (or the
loopback fake, whose models and replies are fixed), so each picture only changes when the look
does. Review a change with `pytest tests/tui/test_snapshots.py --snapshot-report` and accept it
with `--snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.app import StorytermApp
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.direction import DirectionInput
from tests.tui.helpers import (
    bulk_parts,
    make_app,
    meter_settled,
    ready,
    seed_session,
    sessions_t,
    wait_until,
    writer_id,
)

SIZE = (130, 36)
Before = Callable[[Pilot[Any]], Awaitable[None]]


def steady(app: StorytermApp) -> None:
    """No blinking cursors, no toasts: the picture must not depend on the millisecond."""
    app.clear_notifications()
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            assert isinstance(widget, Input | TextArea)
            widget.cursor_blink = False


def then(*steps: Callable[[Pilot[Any]], Awaitable[None]]) -> Before:
    async def run_before(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        for step in steps:
            await step(pilot)
        await meter_settled(pilot)
        await pilot.pause()
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    return run_before


def press(*keys: str, until: Callable[[StorytermApp], object] | None = None) -> Before:
    async def step(pilot: Pilot[Any]) -> None:
        await pilot.press(*keys)
        if until is not None:
            await wait_until(pilot, lambda: until(pilot.app))  # type: ignore[arg-type]
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return step


def on(screen_name: str) -> Callable[[StorytermApp], bool]:
    return lambda app: type(app.screen).__name__ == screen_name


def seed_library(runtime: Runtime) -> str:
    """Four stories of every status; the newest has three parts and is opened on start."""
    alice = writer_id(runtime)
    seed_session(
        runtime, alice, "Winter Orchard", status="completed", parts=5, age=timedelta(days=16)
    )
    seed_session(runtime, alice, "Salt Roads", status="paused", parts=4, age=timedelta(days=3))
    seed_session(runtime, alice, "Glass Cartographer", parts=1, age=timedelta(hours=5))
    return seed_session(
        runtime,
        alice,
        "The Keeper's Letter",
        parts=3,
        words_per_part=60,
        age=timedelta(minutes=2),
        metadata={
            "genre": "mystery",
            "tone": "quiet, salt-worn",
            "premise": "A lighthouse keeper finds a letter addressed to her dead mother.",
            "characters": "Mara, the keeper\nTobias, the ferryman",
        },
    )


@pytest.fixture
def library(runtime: Runtime) -> Runtime:
    seed_library(runtime)
    return runtime


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest", "mistral-small3.1:latest"], tokens=40) as server:
        yield server


def test_login_first_run(fresh_runtime: Runtime, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: on("LoginScreen")(pilot.app))
        await wait_until(pilot, lambda: pilot.app.focused is not None)
        steady(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(make_app(fresh_runtime), terminal_size=SIZE, run_before=run_before)


def test_main_empty(runtime: Runtime, snap_compare: Any) -> None:
    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then())


def test_main_with_stories(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(make_app(library), terminal_size=SIZE, run_before=then())


def test_main_focus_on_the_list_shows_every_command(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(make_app(library), terminal_size=SIZE, run_before=then(press("escape")))


def test_main_part_selected(library: Runtime, snap_compare: Any) -> None:
    async def select(pilot: Pilot[Any]) -> None:
        pilot.app.screen.query_one("StoryView").focus()
        await pilot.press("left_square_bracket", "left_square_bracket")

    assert snap_compare(make_app(library), terminal_size=SIZE, run_before=then(select))


def test_main_paused_story(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(
            press(
                "escape",
                "down",
                "down",
                until=lambda app: app.screen.session.title == "Salt Roads",
            )
        ),
    )


def test_main_completed_story(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(
            press("escape", "4", until=lambda app: app.screen.session.title == "Winter Orchard")
        ),
    )


def test_main_search_without_matches(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(
            press(
                "escape",
                "slash",
                *"zebra",
                until=lambda app: app.screen.panel.has_class("-empty"),
            )
        ),
    )


def test_main_long_story_top(runtime: Runtime, snap_compare: Any) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "The Long Voyage")
    bulk_parts(runtime, sid, 200)

    async def top(pilot: Pilot[Any]) -> None:
        # At the top, the page before loads and the writer's place stays where it was: part
        # 181 is still the first line on screen, with 161-180 above it.
        story = pilot.app.screen.query_one("StoryView")
        await wait_until(pilot, lambda: story.part_views[0].seq == 181 and not story._paging)
        story.focus()
        story.scroll_home(animate=False)
        await wait_until(pilot, lambda: story.part_views[0].seq == 161 and not story._paging)
        await pilot.pause()

    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then(top))


def test_hostile_text(runtime: Runtime, snap_compare: Any) -> None:
    alice = writer_id(runtime)
    sid = seed_session(
        runtime,
        alice,
        "placeholder",
        parts=1,
        content=lambda n: (
            "Mara read it aloud: \x1b[31mRED\x1b[0m, \x1b]0;pwned\x07 and [bold]not bold[/bold]."
        ),
    )
    with runtime.store.engine.begin() as conn:
        conn.execute(
            sessions_t.update().where(sessions_t.c.id == sid).values(title="[red]Hostile[/red]")
        )
    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then())


def test_new_session_form_without_ollama(runtime: Runtime, snap_compare: Any) -> None:
    async def fill(pilot: Pilot[Any]) -> None:
        await pilot.press("escape", "n")
        await wait_until(pilot, lambda: on("NewSessionScreen")(pilot.app))
        form = pilot.app.screen
        await wait_until(pilot, lambda: form.query_one("#model-note").display)
        await pilot.press(*"The Keeper's Letter")

    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then(fill))


def test_new_session_form_with_models(
    runtime: Runtime, fake: FakeOllama, snap_compare: Any
) -> None:
    runtime.settings.ollama_host = fake.url

    async def open_form(pilot: Pilot[Any]) -> None:
        await pilot.press("escape", "n")
        await wait_until(pilot, lambda: on("NewSessionScreen")(pilot.app))
        select = pilot.app.screen.query_one("#model")
        await wait_until(pilot, lambda: select.value == "gemma3:latest")

    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then(open_form))


def test_confirm_delete(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(press("escape", "d", until=on("ConfirmScreen"))),
    )


def test_confirm_complete(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(press("escape", "c", until=on("ConfirmScreen"))),
    )


def test_help(runtime: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(runtime),
        terminal_size=(130, 60),
        run_before=then(press("escape", "question_mark", until=on("HelpScreen"))),
    )


def test_bible_editor(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=(130, 44),
        run_before=then(press("escape", "b", until=on("BibleScreen"))),
    )


def test_part_editor(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(press("escape", "E", until=on("PartEditorScreen"))),
    )


def test_context_viewer_before_any_generation(library: Runtime, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(library),
        terminal_size=SIZE,
        run_before=then(press("escape", "v", until=on("ContextScreen"))),
    )


def test_context_viewer_after_a_part(runtime: Runtime, fake: FakeOllama, snap_compare: Any) -> None:
    runtime.settings.ollama_host = fake.url
    fake.reply = "The lamp went out. Mara lit it again and read on."
    alice = writer_id(runtime)
    seed_session(runtime, alice, "The Keeper's Letter", metadata={"genre": "mystery"})

    async def write_then_view(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press(*"Mara finds the letter", "enter")
        await wait_until(pilot, lambda: screen.session.part_count == 1 and not screen.generating)
        await pilot.press("escape", "v")
        await wait_until(pilot, lambda: on("ContextScreen")(pilot.app))

    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then(write_then_view))


def test_model_picker(library: Runtime, fake: FakeOllama, snap_compare: Any) -> None:
    library.settings.ollama_host = fake.url

    async def pick(pilot: Pilot[Any]) -> None:
        await pilot.press("escape", "m")
        await wait_until(pilot, lambda: on("ModelScreen")(pilot.app))
        options = pilot.app.screen.query_one("OptionList")
        await wait_until(pilot, lambda: options.option_count == 2)

    assert snap_compare(make_app(library), terminal_size=SIZE, run_before=then(pick))


def test_database_unreachable(monkeypatch: pytest.MonkeyPatch, snap_compare: Any) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    runtime = Runtime()

    async def failed(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: pilot.app._notifications)
        await pilot.pause()
        for widget in pilot.app.screen.query("Input, TextArea"):
            widget.cursor_blink = False

    try:
        assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=failed)
    finally:
        runtime.close()


SMALL = (80, 24)


def test_main_takes_header(library: Runtime, snap_compare: Any) -> None:
    """Part 2 of the open story has two takes, the chosen one the writer's edit; selected, so
    the key bar offers < and >."""
    alice = writer_id(library)
    sid = library.sessions.list(alice).items[0].id
    library.history.edit(alice, sid, 2, content="Mara folded the letter and said nothing.")

    async def select(pilot: Pilot[Any]) -> None:
        story = pilot.app.screen.query_one("StoryView")
        story.focus()
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_until(pilot, lambda: story.selected == 2)

    assert snap_compare(make_app(library), terminal_size=SMALL, run_before=then(select))


def test_trash(library: Runtime, snap_compare: Any) -> None:
    alice = writer_id(library)
    by_title = {s.title: s.id for s in library.sessions.list(alice).items}
    library.history.delete(alice, by_title["Glass Cartographer"])
    library.history.delete_part(alice, by_title["Salt Roads"], 2)
    assert snap_compare(
        make_app(library),
        terminal_size=SMALL,
        run_before=then(
            press(
                "escape",
                "T",
                until=lambda app: (
                    on("TrashScreen")(app) and app.screen.query_one("OptionList").option_count == 2
                ),
            )
        ),
    )


def test_main_unsaved_part(runtime: Runtime, fake: FakeOllama, snap_compare: Any) -> None:
    """The disk filled up while part 2 was written: every word stays on screen, its header
    says it is unsaved and being retried."""
    from tests.disk_full import disk_full_switch

    runtime.settings.ollama_host = fake.url
    # Longer than the pages a full disk has room for, in short paragraphs.
    fake.reply = "\n\n".join(
        f"Night {n}: the lamp went out again. Mara lit it, read the letter once more and "
        "listened to the sea against the rocks below the keeper's cottage."
        for n in range(1, 61)
    )
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=1)

    async def fail_the_save(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        switch.full.set()
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, lambda: screen.story.part_view(2) is not None)
        view = screen.story.part_view(2)
        await wait_until(pilot, lambda: view.unsaved is not None and not screen.generating)
        screen.story.scroll_to_widget(view, animate=False, top=True, immediate=True)

    with disk_full_switch() as switch:
        assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then(fail_the_save))


def test_main_written_from_an_earlier_take(runtime: Runtime, snap_compare: Any) -> None:
    """Part 1 was edited after parts 2 and 3 were written from it: their headers say so."""
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3, words_per_part=40)
    runtime.history.edit(alice, sid, 1, content="Mara stayed ashore that winter.")
    assert snap_compare(make_app(runtime), terminal_size=SIZE, run_before=then())


# -- the writer's room at 80x24 and 160x48: notices, the new story form, the main screen ------

BOTH = [SMALL, (160, 48)]


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


@pytest.mark.parametrize("size", BOTH, ids=size_id)
def test_notice_over_the_main_screen(
    library: Runtime, size: tuple[int, int], snap_compare: Any
) -> None:
    """Salt Roads resumed: the writer is in the direction input, the notice top right, clear
    of the input and the list."""

    async def resume(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        app = pilot.app
        await pilot.press("escape", "down", "down")
        await wait_until(pilot, lambda: app.screen.session.title == "Salt Roads")
        await pilot.press("r")
        await wait_until(pilot, lambda: list(app.screen.query("Toast")))
        await wait_until(pilot, lambda: isinstance(app.focused, DirectionInput))
        await meter_settled(pilot)
        await pilot.app.workers.wait_for_complete()
        for widget in app.screen.query("Input, TextArea"):
            widget.cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(library), terminal_size=size, run_before=resume)


@pytest.mark.parametrize("size", BOTH, ids=size_id)
def test_new_session_form_sizes(runtime: Runtime, size: tuple[int, int], snap_compare: Any) -> None:
    """The Create button stays on screen at 80x24 (the fields scroll above it)."""

    async def fill(pilot: Pilot[Any]) -> None:
        await pilot.press("escape", "n")
        await wait_until(pilot, lambda: on("NewSessionScreen")(pilot.app))
        form = pilot.app.screen
        await wait_until(pilot, lambda: form.query_one("#model-note").display)
        await pilot.press(*"The Keeper's Letter")

    assert snap_compare(make_app(runtime), terminal_size=size, run_before=then(fill))


@pytest.mark.parametrize("size", BOTH, ids=size_id)
def test_main_sizes(library: Runtime, size: tuple[int, int], snap_compare: Any) -> None:
    """The list has the keyboard (heavy border) and the key bar every key that fits, help and
    quit always."""
    assert snap_compare(make_app(library), terminal_size=size, run_before=then(press("escape")))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_export_dialog(library: Runtime, snap_compare: Any, size: tuple[int, int]) -> None:
    # A fixed folder: the test's own export folder lies under a temporary path.
    library.settings.export_dir = Path("~/Documents/storyterm")
    assert snap_compare(
        make_app(library),
        terminal_size=size,
        run_before=then(press("escape", "ctrl+e", until=on("ExportScreen"))),
    )
