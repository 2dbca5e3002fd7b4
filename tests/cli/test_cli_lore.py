"""`storyterm lore` as a writer types it: add, list (text and --json), edit, delete and bring
back, the story's settings, and clear refusals (exit 1, nothing stored changed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from tests.helpers import login_as, make_user


@dataclass
class Desk:
    service: SessionService
    user: int
    story: str

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    def names(self) -> list[str]:
        return [e.name for e in self.service.lore.list(self.user, self.story)]


@pytest.fixture
def desk(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    user = login_as(monkeypatch, "writer").id
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    story = service.start(user, "The Keeper's Letter", {"genre": "mystery"})
    yield Desk(service, user, story.id)
    store.close()


def test_add_list_edit_delete_and_restore(desk: Desk) -> None:
    added = desk.invoke(
        "lore", "add", desk.story[:8], "--name", "Mara", "--keys", "Mara, the keeper",
        "--text", "Keeps the light.", "--priority", "5",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Added lore entry 1: Mara." in added.stdout
    desk.invoke("lore", "add", desk.story[:8], "--name", "Tone", "--text", "Grey.", "--always")

    listing = desk.invoke("lore", desk.story[:8])
    assert listing.exit_code == 0, listing.output
    assert "Lorebook of “The Keeper's Letter”:" in listing.stdout
    mara = next(line for line in listing.stdout.splitlines() if "Mara" in line)
    assert "●" in mara and "[Mara, the keeper]" in mara and "p5" in mara and "Keeps" in mara
    tone = next(line for line in listing.stdout.splitlines() if "Tone" in line)
    assert "★" in tone

    edited = desk.invoke("lore", "edit", desk.story[:8], "1", "--disable", "--keys", "Mara")
    assert edited.exit_code == 0, edited.output
    [entry, _] = desk.service.lore.list(desk.user, desk.story)
    assert (entry.enabled, entry.keys, entry.content) == (False, ["Mara"], "Keeps the light.")

    data = json.loads(desk.invoke("lore", "--json", desk.story[:8]).stdout)
    assert [e["name"] for e in data["entries"]] == ["Mara", "Tone"]
    assert data["scan_depth"] == 4 and data["share"] == 0.15

    removed = desk.invoke("lore", "rm", desk.story[:8], "1")
    assert removed.exit_code == 0, removed.output
    assert f"storyterm lore restore {desk.story[:8]} 1" in removed.stdout
    assert desk.names() == ["Tone"]
    assert "Mara" in desk.invoke("lore", desk.story[:8], "--deleted").stdout
    assert desk.invoke("lore", "restore", desk.story[:8], "1").exit_code == 0
    assert desk.names() == ["Mara", "Tone"]


def test_settings_are_shown_and_set(desk: Desk) -> None:
    result = desk.invoke("lore", "settings", desk.story[:8], "--scan-depth", "6", "--share", "0.2")
    assert result.exit_code == 0, result.output
    assert "Scans the last 6 parts and the direction; may take 20%" in result.stdout
    bad = desk.invoke("lore", "settings", desk.story[:8], "--share", "0.9")
    assert bad.exit_code == 1 and "between 1% and 50%" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "Bad", "--keys", "(x", "--text", "t", "--regex"], "not a valid regular"),
        (["--keys", "k", "--text", "t"], "needs a name"),
        (["--name", "N", "--keys", "k"], "needs its text"),
    ],
)
def test_bad_entries_are_refused_with_what_to_do(desk: Desk, args: list, message: str) -> None:
    result = desk.invoke("lore", "add", desk.story[:8], *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert desk.names() == []


def test_another_writers_story_and_a_missing_entry_are_not_found(desk: Desk) -> None:
    other = make_user(desk.service.store, "someone")
    theirs = desk.service.start(other, "Not Yours", {})
    result = desk.invoke("lore", theirs.id)
    assert result.exit_code == 1 and "No story" in result.stderr
    missing = desk.invoke("lore", "edit", desk.story[:8], "42", "--text", "x")
    assert missing.exit_code == 1 and "no lore entry 42" in missing.stderr
