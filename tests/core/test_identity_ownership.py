"""Two writers on one database (SQLite and PostgreSQL): neither can see or touch the other's
sessions, through the service or the command line, even by guessing ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.errors import NotFound
from storyterm.settings import load_settings
from tests.helpers import password_for

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def runtime(database_url: str) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(database_url=database_url))
    yield runtime
    runtime.close()


def _account_from_token(runtime: Runtime, name: str) -> tuple[int, str]:
    """Register and log in; act as the account the token verifies to (as every front end does)."""
    runtime.identity.register(name, password_for(name))
    _, token = runtime.identity.login(name, password_for(name))
    return runtime.identity.verify(token).id, token


def _attempts(runtime: Runtime, user: int, session_id: str) -> dict[str, Callable[[], Any]]:
    s = runtime.sessions
    return {
        "get": lambda: s.get(user, session_id),
        "open": lambda: s.open(user, session_id),
        "parts_before": lambda: s.parts_before(user, session_id, 5),
        "all_parts": lambda: s.all_parts(user, session_id),
        "pause": lambda: s.pause(user, session_id),
        "resume": lambda: s.resume(user, session_id),
        "complete": lambda: s.complete(user, session_id),
        "delete": lambda: s.delete(user, session_id),
        "rename": lambda: s.rename(user, session_id, "Mine now"),
        "update_metadata": lambda: s.update_metadata(user, session_id, {"genre": "theft"}),
        "update_memory": lambda: s.update_memory(user, session_id, {"summary": "x"}),
        "set_model": lambda: s.set_model(user, session_id, "gemma3:latest"),
        "append_part": lambda: s.append_part(user, session_id, direction="", content="x"),
        "begin_part": lambda: s.begin_part(user, session_id, direction="", model_name="m"),
        "checkpoint_part": lambda: s.checkpoint_part(
            user, session_id, 1, "x", state=PartState.DONE
        ),
        "edit_part": lambda: s.edit_part(user, session_id, 1, content="x"),
        "remove_last_part": lambda: s.remove_last_part(user, session_id, 2),
    }


def test_another_writers_session_is_exactly_like_a_missing_one(runtime: Runtime) -> None:
    alice, _ = _account_from_token(runtime, "alice")
    bob, _ = _account_from_token(runtime, "bob")
    story = runtime.sessions.start(alice, "Winter Orchard", {"genre": "quiet"})
    runtime.sessions.append_part(alice, story.id, direction="begin", content="Snow fell.")
    runtime.sessions.append_part(alice, story.id, direction="go on", content="It kept falling.")
    runtime.sessions.pause(alice, story.id)

    for name, attempt in _attempts(runtime, bob, story.id).items():
        with pytest.raises(NotFound) as theirs:
            attempt()
        with pytest.raises(NotFound) as missing:
            _attempts(runtime, bob, MISSING)[name]()
        assert str(theirs.value).replace(story.id, "ID") == str(missing.value).replace(
            MISSING, "ID"
        ), name

    # Nothing changed, and bob sees nothing of it in lists, counts or id prefixes.
    after = runtime.sessions.open(alice, story.id)
    assert after.session.title == "Winter Orchard" and after.session.version == story.version + 3
    assert [p.content for p in after.parts] == ["Snow fell.", "It kept falling."]
    assert runtime.sessions.list(bob).items == []
    assert runtime.sessions.count(bob) == 0
    assert runtime.sessions.list(bob, search="Orchard").items == []
    for prefix in (story.id[:4], story.id[:8], story.id):
        assert runtime.store.find_session_ids(bob, prefix) == []
    # Bob's own work is his alone, too.
    own = runtime.sessions.start(bob, "Salt Roads")
    assert [s.id for s in runtime.sessions.list(bob).items] == [own.id]
    assert [s.id for s in runtime.sessions.list(alice).items] == [story.id]


def test_the_command_line_keeps_writers_apart(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", runtime.settings.database_url)
    alice, alice_token = _account_from_token(runtime, "alice")
    _, bob_token = _account_from_token(runtime, "bob")
    story = runtime.sessions.start(alice, "The Keeper's Letter")
    runtime.sessions.append_part(alice, story.id, direction="", content="The lamp was lit.")
    runner = CliRunner()

    def as_bob(*args: str) -> Any:
        return runner.invoke(cli, list(args), env={"STORYTERM_TOKEN": bob_token})

    listing = as_bob("sessions")
    assert listing.exit_code == 0 and "Keeper" not in listing.output
    assert "No sessions yet" in listing.output
    for command in ("show", "pause", "resume", "complete", "delete"):
        for guess in (story.id, story.id[:8], story.id[:4]):
            args = [command, guess] + (["--yes"] if command == "delete" else [])
            result = as_bob(*args)
            assert result.exit_code == 1, (command, guess, result.output)
            assert f"No story session {guess!r} here" in result.output
            assert "Keeper" not in result.output and "lamp" not in result.output
    missing = as_bob("show", MISSING)
    assert missing.output == as_bob("show", story.id).output.replace(story.id, MISSING)

    mine = runner.invoke(cli, ["show", story.id[:8]], env={"STORYTERM_TOKEN": alice_token})
    assert mine.exit_code == 0 and "The lamp was lit." in mine.output
    assert runtime.sessions.get(alice, story.id).part_count == 1
