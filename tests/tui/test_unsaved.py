"""Never losing a word in the app: a save that fails keeps the part on screen, marked unsaved,
and saves it again once the database can; text earlier runs could not save goes back with R;
quitting with unsaved text says where it is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from storyterm.core import recovery
from storyterm.core.runtime import Runtime
from storyterm.core.views import Part
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main import unsaved
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.confirm import ConfirmScreen
from storyterm.tui.widgets.part_header import PartHeader
from storyterm.tui.widgets.part_view import PartView
from tests.disk_full import DiskFull, disk_full_switch
from tests.tui.helpers import make_app, ready, screen_text, seed_session, wait_until, writer_id

SIZE = (120, 36)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=60) as server:
        yield server


@pytest.fixture
def writing(runtime: Runtime, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    runtime.settings.ollama_host = fake.url
    runtime.settings.checkpoint_interval = 0.2
    # Retries a test can wait for (the app waits 2 s, then longer).
    monkeypatch.setattr(unsaved, "FIRST_RETRY", 0.2)
    return runtime


@pytest.fixture
def disk() -> Iterator[DiskFull]:
    with disk_full_switch() as switch:
        yield switch


def main(app: Any) -> MainScreen:
    assert isinstance(app.screen, MainScreen)
    return app.screen


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


def meta(screen: MainScreen, seq: int) -> str:
    return screen.query_one(f"#part-{seq}", PartView).query_one(PartHeader).meta.plain


async def header_line(pilot: Any, seq: int) -> str:
    """The header of part `seq` as the screen shows it (scrolled to)."""
    story = main(pilot.app).story
    story.scroll_to_widget(story.part_view(seq), animate=False, top=True, immediate=True)
    await pilot.pause()
    text, _raw = screen_text(pilot.app)
    lines = [line for line in text.splitlines() if f"Part {seq} " in line]
    assert lines, text
    return lines[0]


async def fail_a_save(pilot: Any, fake: FakeOllama, disk: DiskFull, direction: str) -> PartView:
    """Write a part on a full disk: the new part's row fits the pages the database has, its
    text does not, so its checkpoints and its final save fail."""
    fake.tokens, fake.ignore_num_predict = 3_000, True  # ~16 KB: pages the full disk lacks
    screen = main(pilot.app)
    seq = screen.session.part_count + 1
    disk.full.set()
    await pilot.press(*direction, "enter")
    await wait_until(pilot, lambda: screen.story.part_view(seq) is not None)
    view = screen.story.part_view(seq)
    assert view is not None
    await wait_until(pilot, lambda: view.unsaved is not None and not screen.generating)
    return view


async def test_a_failed_save_keeps_the_part_marked_unsaved_and_saves_it_when_it_can(
    writing: Runtime, fake: FakeOllama, disk: DiskFull
) -> None:
    alice = writer_id(writing)
    sid = seed_session(writing, alice, "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        view = await fail_a_save(pilot, fake, disk, "The storm")
        # Every word stays on screen, the header says it is not saved and is being retried.
        [kept] = recovery.list_recoveries(writing.settings.state_dir)
        assert view.is_attached and view.part.content == kept.text
        assert view.shown_text == kept.text.replace("\r", "")
        assert meta(screen, 2).startswith("unsaved · retrying · ")
        assert "unsaved · retrying" in await header_line(pilot, 2)
        # The notification gives the real cause and says it keeps trying.
        [said] = [m for m in notifications(app) if "could not be saved" in m]
        assert "the disk holding the database is full" in said
        assert str(kept.path) in said and "keeps trying to save them" in said
        stored = writing.sessions.all_parts(alice, sid)[-1]
        assert stored.content != kept.text  # the database has only an early checkpoint
        # The retries fail while the disk is full; the part stays as it is, also when the
        # story is opened again (from the database, which has the part without its text).
        await pilot.pause(0.8)
        screen.open_session(sid)
        await wait_until(pilot, lambda: screen.story.part_view(2) not in (None, view))
        assert screen.story.part_view(2).part.content == kept.text
        assert meta(screen, 2).startswith("unsaved · retrying")
        assert screen.column.unsaved_files() == [kept.path]

        disk.full.clear()  # room again: the next retry saves it
        await wait_until(pilot, lambda: not meta(screen, 2).startswith("unsaved"), timeout=15)
        stored = writing.sessions.all_parts(alice, sid)[-1]
        assert stored.seq == 2 and stored.content == kept.text
        assert str(stored.state) == "done"  # the model had finished: a finished part
        assert not kept.path.exists() and screen.column.unsaved_files() == []
        await wait_until(
            pilot, lambda: any(m.startswith("Saved: the ") for m in notifications(app))
        )
        assert screen.story.part_view(2).part.content == kept.text
        await wait_until(pilot, lambda: screen.session.part_count == 2)


async def test_quitting_with_unsaved_text_asks_first_and_names_the_file(
    writing: Runtime, fake: FakeOllama, disk: DiskFull, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_session(writing, writer_id(writing), "Salt Roads", parts=1)
    app = make_app(writing)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await fail_a_save(pilot, fake, disk, "The storm")
        [kept] = recovery.list_recoveries(writing.settings.state_dir)
        await pilot.press("escape", "q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.query_one("#question", Static).content
        detail = app.screen.query_one("#detail", Static).content
        assert str(question) == "Quit with 1 part not saved in the story?"
        assert str(detail).startswith(f"Kept in {kept.path}: the next time storyterm opens, R")
        await pilot.press("n")  # stay
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert not app.quitting and kept.path.exists()
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app._exit)
    # Named once more after the app has closed, whole (a path to copy is never folded).
    said = capsys.readouterr().err
    assert f"\n  {kept.path}\n" in said and "`storyterm recover FILE` puts it back" in said
    assert kept.path.exists()  # the text waits in its file for the next run


def _kept_for(runtime: Runtime, part: Part, title: str, text: str) -> Path:
    """A recovery file such as a failed save of `part` leaves."""
    unsaved_ = recovery.Unsaved(
        user_id=writer_id(runtime),
        session_id=part.session_id,
        title=title,
        seq=part.seq,
        part_id=part.id,
        take=part.take,
        part_created_at=part.created_at.isoformat(),
        direction=part.direction,
        model_name=part.model_name,
        state="done",
        cause="the disk holding the database is full",
        written_at=recovery.now_text(),
    )
    return recovery.write_recovery(runtime.settings.state_dir, unsaved_, text)


async def test_r_puts_back_the_text_earlier_runs_could_not_save(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=3)
    other = seed_session(runtime, alice, "Glass Cartographer", parts=1, age=timedelta(days=2))
    parts = runtime.sessions.all_parts(alice, sid)
    changed = _kept_for(runtime, parts[1], "Salt Roads", "The sisters turned back at dawn.")
    gone = _kept_for(runtime, parts[2], "Salt Roads", "Tobias kept rowing.")
    elsewhere = _kept_for(
        runtime, runtime.sessions.all_parts(alice, other)[0], "Glass Cartographer", "Maps."
    )
    runtime.history.delete_part(alice, sid, 3)  # its text goes back as a new part at the end
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = main(app)
        await wait_until(pilot, lambda: any("recovery files" in m for m in notifications(app)))
        [said] = [m for m in notifications(app) if "recovery files" in m]
        assert said.startswith(
            "2 unsaved parts of “Salt Roads” and 1 more of other stories wait in recovery files"
        )
        assert "Esc, then R, puts them back" in said
        await pilot.press("escape")
        assert screen.check_action("recover", ()) and not isinstance(app.focused, type(None))
        await pilot.press("R")
        await wait_until(pilot, lambda: not screen.column.has_unsaved)
        assert not changed.exists() and not gone.exists() and not elsewhere.exists()
        texts = [p.content for p in runtime.sessions.all_parts(alice, sid)]
        assert texts[1] == "The sisters turned back at dawn."  # a new take of part 2
        assert texts[-1] == "Tobias kept rowing." and len(texts) == 3  # part 3 anew, at the end
        assert runtime.history.takes(alice, sid, 2)[0].content == parts[1].content  # kept
        assert runtime.sessions.all_parts(alice, other)[0].content == "Maps."
        await wait_until(
            pilot, lambda: screen.story.part_view(2).part.content.startswith("The sisters")
        )
        saved = [m for m in notifications(app) if m.startswith("Saved: ")]
        assert len(saved) == 3 and any("as take 2" in m for m in saved)
        # Nothing waits now: R leaves the key bar; the command palette's entry still looks.
        assert not screen.check_action("recover", ())
        screen.action_recover()
        await wait_until(pilot, lambda: any("every word is saved" in m for m in notifications(app)))
