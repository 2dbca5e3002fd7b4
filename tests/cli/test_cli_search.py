"""`storyterm search` as a writer types it: the parts that hold the words, safe to print,
JSON for scripts, and a clear message (never a traceback) for a search it cannot run."""

from __future__ import annotations

import json

import pytest

from tests.cli import test_cli_sessions
from tests.cli.test_cli_sessions import Shelf, assert_refused
from tests.helpers import make_user

#: The session commands' shelf: a writer with three stories, the CLI pointed at them.
shelf = pytest.fixture(test_cli_sessions.shelf.__wrapped__, name="shelf")  # type: ignore[attr-defined]


def test_search_prints_each_story_part_and_its_snippet(shelf: Shelf) -> None:
    shelf.service.append_part(
        shelf.user, shelf.orchard, direction="", content="Frost on the seal\x1b]0;pwned\x07 of it."
    )
    result = shelf.invoke("search", "SEAL")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("The Keeper's Letter · part 2  (")  # the shorter part ranks first
    assert lines[1] == "  Mara broke the seal."
    assert lines[2].startswith("Winter Orchard · part 1")
    assert lines[3] == "  Frost on the seal␛]0;pwned␇ of it."
    assert "\x1b" not in result.stdout


def test_search_one_story_json_and_paging(shelf: Shelf) -> None:
    result = shelf.invoke("search", "rain", "--session", shelf.keeper[:8], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["next_offset"] is None
    [hit] = data["hits"]
    assert (hit["session_id"], hit["seq"]) == (shelf.keeper, 1)
    assert hit["snippet"] == [
        {"text": "Rain", "match": True},
        {"text": " fell.", "match": False},
    ]
    for n in range(3):
        shelf.service.append_part(shelf.user, shelf.orchard, direction="", content=f"rain {n}")
    first = shelf.invoke("search", "rain", "--limit", "2")
    assert first.stdout.splitlines()[-1] == "… more: add --offset 2"
    last = shelf.invoke("search", "rain", "--limit", "2", "--offset", "2")
    assert "more" not in last.stdout and last.stdout.count(" · part ") == 2


def test_search_finds_nothing_of_another_writer(shelf: Shelf) -> None:
    bob = make_user(shelf.service.store, "bob")
    story = shelf.service.start(bob, "Bob's")
    shelf.service.append_part(bob, story.id, direction="", content="A zeppelin.")
    assert shelf.invoke("search", "zeppelin").stdout == "Nothing found.\n"
    result = shelf.invoke("search", "zeppelin", "--session", story.id)
    assert_refused(shelf, result, "No story session")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Nothing to search for"),
        ('"*" -- NEAR(', None),
        ("x" * 10_000, "keep it to 500 or fewer"),
    ],
)
def test_hostile_searches_answer_clearly(shelf: Shelf, query: str, message: str | None) -> None:
    result = shelf.invoke("search", query)
    if message is None:
        assert result.exit_code == 0, result.output
        assert "The Keeper" not in result.stdout  # NEAR is a word nobody wrote
    else:
        assert_refused(shelf, result, message)
