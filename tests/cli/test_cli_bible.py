"""`storyterm bible` as a writer types it: prints the bible, the author's note with its depth
and the instructions (the default until set), sets any of them keeping the others, refuses a
bad value on stderr with exit 1 and nothing changed, and never lets stored text drive the
terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.memory.steering import DEFAULT_INSTRUCTIONS, Steering
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.views import Session
from tests.helpers import login_as


@dataclass
class Desk:
    service: SessionService
    user: int
    story: str

    def invoke(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input)

    def session(self) -> Session:
        return self.service.get(self.user, self.story)


@pytest.fixture
def desk(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    user = login_as(monkeypatch, "writer").id
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    story = service.start(user, "The Keeper's Letter", {"genre": "mystery", "tone": "dark"})
    yield Desk(service, user, story.id)
    store.close()


def test_with_no_options_it_prints_the_bible_note_and_default_instructions(desk: Desk) -> None:
    result = desk.invoke("bible", desk.story[:8])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Story bible of “The Keeper's Letter”:" in out
    assert "Genre\n    mystery\nTone\n    dark\n" in out
    assert "Author's note (none; it would go before the last 3 parts)" in out
    assert "Instructions (the default)\n    " + DEFAULT_INSTRUCTIONS in out


def test_options_set_the_bible_note_depth_and_instructions_and_keep_the_rest(
    desk: Desk, tmp_path: Path
) -> None:
    result = desk.invoke(
        "bible",
        desk.story,
        "--premise",
        "A letter forty years late.",
        "--tone",
        "",
        "--note",
        "tense, rain, Mara is lying",
        "--note-depth",
        "0",
        "--instructions",
        "Write like a ship's log.",
    )
    assert result.exit_code == 0, result.output
    assert "Saved. Story bible of" in result.stdout
    assert "Author's note (right before your direction)\n    tense, rain" in result.stdout
    assert "Instructions (this story's own)\n    Write like a ship's log." in result.stdout
    session = desk.session()
    assert session.session_metadata == {"genre": "mystery", "premise": "A letter forty years late."}
    assert Steering.of(session.memory) == Steering(
        "tense, rain, Mara is lying", 0, "Write like a ship's log.", True
    )
    # Only the depth: the note stays. Instructions from a file; then back to the default.
    assert desk.invoke("bible", desk.story, "--note-depth", "5").exit_code == 0
    assert Steering.of(desk.session().memory).note == "tense, rain, Mara is lying"
    result = desk.invoke("bible", desk.story, "--instructions-file", "-", input="From stdin.\n")
    assert result.exit_code == 0, result.output
    assert Steering.of(desk.session().memory).instructions == "From stdin."
    assert desk.invoke("bible", desk.story, "--reset", "instructions").exit_code == 0
    assert Steering.of(desk.session().memory) == Steering(
        "tense, rain, Mara is lying", 5, DEFAULT_INSTRUCTIONS, False
    )
    assert desk.invoke("bible", desk.story, "--reset", "all").exit_code == 0
    assert Steering.of(desk.session().memory) == Steering.of({})


def test_json_gives_the_exact_text_for_scripts(desk: Desk) -> None:
    hostile = "\x1b]0;pwned\x07 rain \u202eevil"
    desk.service.set_steering(desk.user, desk.story, {"note": hostile, "note_depth": 2})
    result = desk.invoke("bible", desk.story, "--json")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    data = json.loads(result.stdout)
    assert data == {
        "session_id": desk.story,
        "title": "The Keeper's Letter",
        "metadata": {"genre": "mystery", "tone": "dark"},
        "note": hostile,
        "note_depth": 2,
        "instructions": DEFAULT_INSTRUCTIONS,
        "instructions_default": True,
    }
    # Printed for a person, the same note is shown, never acted on.
    shown = desk.invoke("bible", desk.story).stdout
    assert "\x1b" not in shown and "\u202e" not in shown and "␛]0;pwned" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--note-depth", "51"], "from 0 (right before your direction) to 50"),
        (["--note-depth", "two"], "not 'two'"),
        (["--note", "x" * 4001], "keep it to 4,000 or fewer"),
        (["--instructions", "x" * 20_001], "keep it to 20,000 or fewer"),
        (["--premise", "x" * 20_001], "too long"),
        (["--note", "rain", "--reset", "note"], "--note and --reset note say different things"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_changes(
    desk: Desk, args: list[str], message: str
) -> None:
    before = desk.session()
    # A good change beside the bad one is not saved either.
    result = desk.invoke("bible", desk.story, "--genre", "saga", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    after = desk.session()
    assert (after.version, after.session_metadata) == (before.version, before.session_metadata)


def test_an_unknown_story_and_a_completed_one_are_refused(desk: Desk) -> None:
    result = desk.invoke("bible", "ffffffff", "--note", "rain")
    assert result.exit_code == 1 and "ffffffff" in result.stderr
    desk.service.complete(desk.user, desk.story)
    result = desk.invoke("bible", desk.story, "--note", "rain")
    assert result.exit_code == 1 and "completed and read-only" in result.stderr
    # Reading a completed story's bible is fine.
    assert desk.invoke("bible", desk.story).exit_code == 0
