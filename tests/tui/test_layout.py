"""The writer's room at any size: notices never cover where the writer types, the pane with the
keyboard is plain to see, story keys work from the list, every screen's buttons and the key
bar's help and quit stay on screen at 80x24 (Textual's Pilot, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from textual.app import App
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.app import StorytermApp
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.confirm import ConfirmScreen
from storyterm.tui.screens.login import LoginScreen
from storyterm.tui.widgets import story_view
from storyterm.tui.widgets.direction import DirectionBar
from storyterm.tui.widgets.key_bar import KeyBar
from storyterm.tui.widgets.session_list import SessionsPanel
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import (
    make_app,
    ready,
    screen_text,
    seed_session,
    sessions_t,
    wait_until,
    writer_id,
)
from tests.tui.test_snapshots import seed_library

SIZES = [(80, 24), (160, 48)]


def main(app: Any) -> MainScreen:
    assert isinstance(app.screen, MainScreen), app.screen
    return app.screen


def key_bar(app: Any) -> str:
    """The key bar's line as the writer sees it."""
    return screen_text(app)[0].splitlines()[-1]


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=10) as server:
        yield server


# -- notices -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_notices_never_cover_the_direction_input(
    runtime: Runtime, size: tuple[int, int]
) -> None:
    """Resuming a story puts the writer in the direction input with a notice showing; more
    notices pile up (a long one among them): none covers the input, the key bar, or the list's
    search and selected row."""
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Winter Orchard", parts=2, age=timedelta(days=1))
    seed_session(runtime, alice, "Salt Roads", status="paused", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        screen = main(app)
        assert screen.session is not None and screen.session.title == "Salt Roads"
        await pilot.press("escape", "r")
        direction = screen.column.direction_bar.input
        await wait_until(pilot, lambda: app.focused is direction)
        await wait_until(pilot, lambda: list(screen.query("Toast")))
        for n in range(4):
            app.notify(f"Notice {n}: " + "a longer message that wraps over lines " * n)
        await wait_until(pilot, lambda: len(screen.query("Toast")) == 5)
        await pilot.pause()
        # Where each toast is drawn: its region as clipped by the rack (a toast the rack has no
        # room for is not drawn, and shows when an older one times out).
        placed = [screen.find_widget(toast) for toast in screen.query("Toast")]
        toasts = [p.region.intersection(p.clip) for p in placed]
        assert toasts[0] and toasts[1], toasts  # the resume notice and the next show
        keep_clear: list[tuple[str, Region]] = [
            ("direction bar", screen.query_one(DirectionBar).region),
            ("key bar", screen.query_one(KeyBar).region),
            ("session list", screen.panel.region),
        ]
        for name, region in keep_clear:
            assert region, name
            for toast in toasts:
                assert not toast.overlaps(region), (name, region, toast)
        # Typing goes on while the notices show.
        await pilot.press(*"The storm")
        assert direction.text == "The storm"


# -- which pane has the keyboard -------------------------------------------------------------


def border(widget: Widget) -> str:
    return widget.styles.border_top[0]


async def test_the_pane_with_the_keyboard_has_the_heavy_border(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        screen = main(app)
        panes: dict[str, Widget] = {
            "list": screen.query_one(SessionsPanel),
            "story": screen.query_one(StoryView),
            "input": screen.query_one(DirectionBar),
        }

        async def only(focused: str) -> None:
            await pilot.pause()
            assert {name: border(pane) for name, pane in panes.items()} == {
                name: "heavy" if name == focused else "round" for name in panes
            }
            lit = panes[focused].styles.border_title_color
            for name, pane in panes.items():
                if name != focused:  # the others' titles are dimmed
                    assert pane.styles.border_title_color != lit, name

        await only("input")  # the boot leaves the writer in the input
        await pilot.press("escape")
        await only("list")
        screen.story.focus()
        await only("story")
        await pilot.press("w")
        await only("input")


# -- story keys from anywhere ------------------------------------------------------------


async def test_brackets_select_parts_of_the_open_story_from_the_list(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=3)
    app = make_app(runtime)
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        screen = main(app)
        story = screen.story
        await pilot.press("escape")
        assert app.focused is screen.panel.session_list
        assert "[ ] Part" in key_bar(app)
        await pilot.press("left_square_bracket")
        assert story.selected == 3
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert story.selected == 1
        await pilot.press("right_square_bracket")
        assert story.selected == 2
        assert "part 2 of 3" in str(story.border_subtitle) + str(story.border_title)
        # The list kept the keyboard: j and k still move in it.
        assert app.focused is screen.panel.session_list
        # E edits the part selected from the list.
        await pilot.press("E")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PartEditorScreen")
        assert "part 2" in str(app.screen.query_one("#heading").visual)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        # In the direction input a bracket is text.
        await pilot.press("w", "left_square_bracket")
        assert screen.column.direction_bar.input.text == "["
        assert story.selected == 2


# -- a destructive question names the story ---------------------------------------------------


async def test_deleting_from_the_list_names_the_story_safely_and_u_brings_it_back(
    runtime: Runtime,
) -> None:
    """The title is data: markup and escape codes in it show as text, in bold, on a line of
    the question; u right after the delete brings the story back."""
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Winter Orchard", parts=1, age=timedelta(days=1))
    sid = seed_session(runtime, alice, "placeholder", parts=2, age=timedelta(hours=1))
    # Stored as another client (or an old version) might have: the service refuses it now.
    with runtime.store.engine.begin() as conn:
        conn.execute(
            sessions_t.update()
            .where(sessions_t.c.id == sid)
            .values(title="[red]Glass[/red] \x1b[31mCartographer")
        )
    runtime.store.cache.drop(sid)
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.query_one("#question").visual
        shown = "“[red]Glass[/red] ␛[31mCartographer”"
        assert str(question) == f"Move {shown} to the trash?"
        spans = [s for s in question.spans if "bold" in str(s.style)]  # type: ignore[attr-defined]
        assert any(str(question)[s.start : s.end] == shown for s in spans)
        assert shown in screen_text(app)[0].replace("\n", "")
        for button in app.screen.query(Button):
            assert app.screen.region.contains_region(button.region), button.id
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.panel.loaded_count == 1)
        assert runtime.sessions.count(alice) == 1
        await pilot.press("u")
        await wait_until(pilot, lambda: screen.panel.loaded_count == 2)
        await wait_until(pilot, lambda: screen.session is not None and screen.session.id == sid)
        assert runtime.sessions.count(alice) == 2


# -- 80x24 -----------------------------------------------------------------------------------


def on_screen(app: Any, selector: str) -> bool:
    """The widget is laid out, not clipped, and inside the screen."""
    widget = app.screen.query_one(selector)
    region = widget.region
    return bool(region) and Region(0, 0, *app.size).contains_region(region)


FORMS = [
    ("n", "NewSessionScreen", "#create"),
    ("b", "BibleScreen", "#save"),
    ("E", "PartEditorScreen", "#save"),
    ("m", "ModelScreen", "#models"),
    ("v", "ContextScreen", "#messages"),
    ("question_mark", "HelpScreen", "#keys"),
    ("T", "TrashScreen", "KeyBar"),
    ("d", "ConfirmScreen", "#yes"),
    ("c", "ConfirmScreen", "#yes"),
]


async def test_every_screen_keeps_its_buttons_on_screen_at_80x24(
    runtime: Runtime, fake: FakeOllama
) -> None:
    runtime.settings.ollama_host = fake.url
    seed_library(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape")
        for key, name, primary in FORMS:
            await pilot.press(key)
            await wait_until(pilot, lambda name=name: type(app.screen).__name__ == name)
            await pilot.pause()
            assert on_screen(app, primary), (name, app.screen.query_one(primary).region)
            for button in app.screen.query(Button):
                assert on_screen(app, f"#{button.id}"), (name, button.id)
            app.screen.dismiss(None)
            await wait_until(pilot, lambda: app.screen is screen)


async def test_the_new_story_form_at_80x24_shows_an_error_with_its_buttons(
    runtime: Runtime,
) -> None:
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("escape", "n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "NewSessionScreen")
        await pilot.press("ctrl+s")  # no title
        error = app.screen.query_one("#error")
        await wait_until(pilot, lambda: error.display and error.has_class("-shown"))
        await pilot.pause()
        assert on_screen(app, "#error") and on_screen(app, "#create")
        assert not error.region.overlaps(app.screen.query_one("#create").region)
        assert "title" in str(error.visual).lower()


async def test_the_login_form_keeps_its_button_at_80x24(fresh_runtime: Runtime) -> None:
    app = make_app(fresh_runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: type(app.screen).__name__ == "LoginScreen")
        await pilot.pause()
        assert on_screen(app, "#go") and on_screen(app, "#quit")


class LoginHost(App[None]):
    """The login form alone, in the app's stylesheet, with every note it can show."""

    CSS_PATH = StorytermApp.CSS_PATH

    def on_mount(self) -> None:
        self.push_screen(
            LoginScreen(
                reason="Your login expired: please log in again to carry on.",
                keyring_note=(
                    "The system keyring is turned off (keyring's null backend is chosen): your "
                    "login lasts for this run only. To stay logged in, set STORYTERM_TOKEN "
                    "(`storyterm login --print-token`) or choose a keyring backend."
                ),
            )
        )


async def test_the_login_forms_notes_scroll_above_its_buttons_at_80x24() -> None:
    """With a reason and the keyring note, the login form is taller than 24 lines: the notes
    scroll between the tabs and the buttons instead of being cut off under them."""
    app = LoginHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.pause()
        assert on_screen(app, "#go") and on_screen(app, "#reason")
        note = app.screen.query_one("#keyring")
        note.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        assert on_screen(app, "#keyring") and on_screen(app, "#go")
        assert not note.region.overlaps(app.screen.query_one("#go").region)
        assert "STORYTERM_TOKEN" in screen_text(app)[0]


@pytest.mark.parametrize("width", [80, 160])
async def test_the_key_bar_keeps_help_and_quit(runtime: Runtime, width: int) -> None:
    seed_library(runtime)
    app = make_app(runtime)
    async with app.run_test(size=(width, 24)) as pilot:
        await ready(pilot)
        # Typing in the direction input: ? and q are text, f1 and ctrl+q are not.
        line = key_bar(app)
        assert "f1 Help" in line and "^q Quit" in line, line
        await pilot.press("escape")  # the list: every command
        line = key_bar(app)
        assert "? Help" in line and "q Quit" in line and "^p palette" in line, line
        assert line.index("q Quit") < line.index("^p palette")
        # Narrow, the first keys stay and the later ones go; wide, all of them show.
        assert "Pause" in line
        assert ("/ Search" in line) is (width == 160), line
        await pilot.press("f1")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape", "w", "f1")  # f1 from inside the input
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


# -- the story a key acts on is the one under the cursor ---------------------------------------


async def test_d_before_the_story_under_the_cursor_opens_deletes_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list opens a story once its cursor rests there; d pressed before that used to ask
    about (and delete) the story still on the right, not the one under the cursor."""
    monkeypatch.setattr(story_view, "REST", 30.0)  # the cursor never rests in this test
    alice = writer_id(runtime)
    older = seed_session(runtime, alice, "Winter Orchard", parts=1, age=timedelta(days=1))
    newest = seed_session(runtime, alice, "Salt Roads", parts=1, age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ready(pilot)
        screen = main(app)
        assert screen.session is not None and screen.session.id == newest
        await pilot.press("escape", "down", "d")
        assert screen.panel.highlighted_id == older
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("still opening" in n.message for n in app._notifications)
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        # Enter opens it; then d asks about it.
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session is not None and screen.session.id == older)
        await pilot.press("escape", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert str(app.screen.query_one("#question").visual) == (
            "Move “Winter Orchard” to the trash?"
        )
        await pilot.press("n")
        assert runtime.sessions.count(alice) == 2


async def test_the_cursor_back_on_the_open_story_keeps_it_open(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Down and straight back up: the story below used to open anyway once its wait ran out,
    while the cursor rested on the story above."""
    monkeypatch.setattr(story_view, "REST", 0.5)
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Winter Orchard", parts=1, age=timedelta(days=1))
    newest = seed_session(runtime, alice, "Salt Roads", parts=1, age=timedelta(hours=1))
    app = make_app(runtime)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        screen = main(app)
        await pilot.press("escape", "down", "up")
        assert screen.panel.highlighted_id == newest
        await pilot.pause(1.0)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.session is not None and screen.session.id == newest
        assert screen.story.shown_session_id == newest
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Salt Roads" in str(app.screen.query_one("#question").visual)


@pytest.mark.parametrize("key", ["n", "ctrl+e", "m", "b"])
async def test_a_form_opens_without_the_notices_from_before_over_its_fields(
    runtime: Runtime, key: str
) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ready(pilot)
        app.notify("Exported 1 part to a folder far away.", timeout=30)
        await wait_until(pilot, lambda: list(app.screen.query("Toast")))
        await pilot.press("escape", key)
        await wait_until(pilot, lambda: not isinstance(app.screen, MainScreen))
        await pilot.pause()
        assert not list(app.screen.query("Toast"))
        # A notice raised while the form is open still shows.
        app.notify("Something new.", timeout=30)
        await wait_until(pilot, lambda: list(app.screen.query("Toast")))
