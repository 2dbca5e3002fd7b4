"""The text boundary (core/text.py): hostile writer input gets a clear error, hostile model
output is saved without loss on SQLite and PostgreSQL, and nothing stored reaches a terminal raw
from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.cli.common import current_user_id
from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.core.text import export_safe, refuse_unstorable, scrub, terminal_safe
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.errors import InvalidInput
from tests.helpers import login_as

#: What a misbehaving model (or a poisoned prompt) may send: an OSC that sets the window title,
#: a screen clear, colours, BEL, NUL, a right-to-left override, a C1 CSI and a lone surrogate.
HOSTILE_REPLY = (
    "Mara opened the door.\x1b]0;pwned\x07 The lamp\x1b[2J went out.\x1b[31m Red\x1b[0m.\n\n"
    "Nul\x00here. \u202eevil\u202c and \x9b31m then a broken \ud800 char.\r\nThe end."
)
#: The same text as it must be stored: only what no database can store is replaced.
STORED_REPLY = HOSTILE_REPLY.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
#: Bytes that must never reach a terminal from storyterm's output.
RAW = ("\x1b", "\x07", "\x00", "\u202e", "\u202c", "\x9b", "\ud800")


def assert_terminal_safe(text: str) -> None:
    leaked = [repr(ch) for ch in RAW if ch in text]
    assert not leaked, f"raw {', '.join(leaked)} reached the terminal: {text!r}"


# -- the functions ----------------------------------------------------------------------------


def test_scrub_replaces_only_what_no_database_can_store() -> None:
    assert scrub("plain") == "plain"
    assert scrub("é\x1b\t\n") == "é\x1b\t\n"
    assert scrub("a\x00b\ud800c\udfffd") == "a\ufffdb\ufffdc\ufffdd"
    assert scrub("😀") == "😀"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a\x00b", "NUL character"),
        ("a\ud800", "lone surrogate, U+D800"),
        ("caf\udce9", "a byte that is not valid UTF-8 (0xE9)"),  # a Latin-1 argument
    ],
)
def test_refuse_unstorable_names_the_character_and_what_to_do(text: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        refuse_unstorable(text, "The direction")
    assert caught.value.message.startswith("The direction contains")
    assert named in caught.value.message and "Remove it" in caught.value.message


def test_terminal_safe_shows_controls_as_symbols_and_keeps_lines() -> None:
    shown = terminal_safe(HOSTILE_REPLY)
    assert_terminal_safe(shown)
    assert "␛]0;pwned␇" in shown and "␛[2J" in shown and "␀" in shown
    assert "evil" in shown and "The end." in shown
    assert "\r" not in shown and shown.count("\n") == 3
    assert terminal_safe("tab\tstays") == "tab\tstays"


def test_export_safe_drops_controls_but_keeps_tabs_newlines_and_words() -> None:
    kept = export_safe(HOSTILE_REPLY + "\tend")
    assert_terminal_safe(kept)
    assert "]0;pwned" in kept and "Mara opened the door." in kept and "\tend" in kept
    assert "␛" not in kept


# -- writer input: refused with a clear message, nothing stored ----------------------------------


@pytest.fixture
def runtime(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", database_url)
    monkeypatch.setenv("STORYTERM_REDIS_URL", "")
    rt = Runtime()
    login_as(rt, "mara")
    try:
        yield rt
    finally:
        rt.close()


def _user(runtime: Runtime) -> int:
    account = runtime.current_account()
    assert account is not None
    return account.id


HOSTILE_STARTS: list[tuple[str, dict[str, Any], str]] = [
    ("nul in title", {"title": "Salt\x00Roads"}, "title contains a NUL"),
    ("surrogate in title", {"title": "Salt\ud800"}, "title contains a broken character"),
    ("escape in title", {"title": "Salt\x1b[31m"}, "control characters"),
    ("surrogate in genre", {"metadata": {"genre": "a\ud800"}}, "'genre' contains a broken"),
    ("nul in premise", {"metadata": {"premise": "x\x00"}}, "'premise' contains a NUL"),
    ("surrogate in a key", {"metadata": {"g\ud800": "x"}}, "contains a broken character"),
    ("nul in a list", {"metadata": {"characters": ["Mara", "\x00"]}}, "contains a NUL"),
    ("huge number", {"metadata": {"year": 10**30}}, "too large to keep exactly"),
    ("long key", {"metadata": {"k" * 500: "x"}}, "keep names to 100"),
    ("long model", {"model_name": "m" * 300}, "at most 200 characters"),
    ("model with escape", {"model_name": "gemma3\x1b]0;x\x07"}, "control characters"),
    ("title not text", {"title": 5}, "must be text"),
]


@pytest.mark.parametrize(
    ("case", "call", "message"), HOSTILE_STARTS, ids=[c[0] for c in HOSTILE_STARTS]
)
def test_hostile_start_is_refused_by_name_and_stores_nothing(
    runtime: Runtime, case: str, call: dict[str, Any], message: str
) -> None:
    user = _user(runtime)
    args = {"title": "Salt Roads", "metadata": None, "model_name": None, **call}
    with pytest.raises(InvalidInput) as caught:
        runtime.sessions.start(user, args["title"], args["metadata"], args["model_name"])
    assert message in caught.value.message
    assert "database" not in caught.value.message.lower()
    assert runtime.sessions.count(user) == 0


@pytest.mark.parametrize(
    ("case", "change", "message"),
    [
        ("direction nul", {"direction": "go\x00on"}, "direction contains a NUL"),
        ("direction surrogate", {"direction": "go\udfff"}, "direction contains a broken"),
        ("text nul", {"content": "Mara\x00"}, "part's text contains a NUL"),
    ],
)
def test_hostile_edit_is_refused_and_keeps_the_part(
    runtime: Runtime, case: str, change: dict[str, str], message: str
) -> None:
    user = _user(runtime)
    session = runtime.sessions.start(user, "Salt Roads")
    runtime.sessions.append_part(user, session.id, direction="begin", content="Mara waits.")
    with pytest.raises(InvalidInput) as caught:
        runtime.sessions.edit_part(user, session.id, 1, **change)
    assert message in caught.value.message
    (part,) = runtime.sessions.all_parts(user, session.id)
    assert (part.direction, part.content) == ("begin", "Mara waits.")


@pytest.mark.parametrize(
    ("search", "message"), [("a\x00", "search contains a NUL"), ("x" * 300, "shorten the search")]
)
def test_hostile_search_and_model_switch_get_data_errors(
    runtime: Runtime, search: str, message: str
) -> None:
    user = _user(runtime)
    session = runtime.sessions.start(user, "Salt Roads")
    with pytest.raises(InvalidInput, match=message):
        runtime.sessions.list(user, search=search)
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        runtime.sessions.set_model(user, session.id, "m" * 300)
    assert runtime.sessions.get(user, session.id).model_name is None


# -- model output: saved without loss, printed safely --------------------------------------------


@pytest.fixture
def hostile_model() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], reply=HOSTILE_REPLY) as server:
        yield server


def _invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_hostile_model_output_is_saved_and_never_printed_raw(
    database_url: str, hostile_model: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", database_url)
    monkeypatch.setenv("STORYTERM_REDIS_URL", "")
    monkeypatch.setenv("OLLAMA_HOST", hostile_model.url)
    login_as(monkeypatch, "mara")
    env = {"OLLAMA_HOST": hostile_model.url}
    new = _invoke(env, "new", "The Keeper's Letter", "--genre", "mystery")
    session_id = new.stdout.strip()

    wrote = _invoke(env, "continue", session_id, "--direction", "Mara opens the door")
    assert wrote.exit_code == 0, wrote.output
    assert_terminal_safe(wrote.stdout + wrote.stderr)
    assert "␛]0;pwned␇" in wrote.stdout and "The end." in wrote.stdout

    runtime = Runtime()
    try:
        (part,) = runtime.sessions.all_parts(current_user_id(runtime), session_id)
    finally:
        runtime.close()
    assert part.state is PartState.DONE
    assert part.content == STORED_REPLY.strip()  # every word kept; ESC stays data

    shown = _invoke(env, "show", session_id)
    assert shown.exit_code == 0, shown.output
    assert_terminal_safe(shown.stdout)
    assert "Mara opened the door." in shown.stdout and "The end." in shown.stdout

    as_json = _invoke(env, "show", session_id, "--json")
    assert_terminal_safe(as_json.stdout)
    assert json.loads(as_json.stdout)["parts"][0]["content"] == part.content

    listed = _invoke(env, "sessions")
    assert_terminal_safe(listed.stdout)


# -- stored text that is already hostile (an older database, another tool): never shown raw ------


def _poison(runtime: Runtime, session_id: str) -> None:
    """Write hostile text straight into the rows, past the service's checks, as an older
    storyterm or another program could have: title, model name, bible, summary and part."""
    import sqlalchemy as sa

    from storyterm.core.storage.tables import StoryPart, StorySession

    sessions_t = StorySession.__table__  # type: ignore[attr-defined]
    parts_t = StoryPart.__table__  # type: ignore[attr-defined]
    with runtime.store.engine.begin() as conn:
        conn.execute(
            sa.update(sessions_t)
            .where(sessions_t.c.id == session_id)
            .values(
                title="Salt\x1b]0;pwned\x07 Roads",
                model_name="gemma3\x1b[2J",
                session_metadata={"genre": "noir\x1b]2;pwned\x07", "premise": "\u202eevil"},
                memory={"summary": "So far\x1b]0;pwned\x07 Mara waits.", "summary_through_seq": 1},
            )
        )
        conn.execute(
            sa.update(parts_t)
            .where(parts_t.c.session_id == session_id)
            .values(content=HOSTILE_REPLY.replace("\x00", "").replace("\ud800", ""))
        )


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    account = login_as(monkeypatch, "mara")
    runtime = Runtime()
    try:
        session = runtime.sessions.start(account.id, "Salt Roads")
        runtime.sessions.append_part(account.id, session.id, direction="go", content="Mara.")
        _poison(runtime, session.id)
    finally:
        runtime.close()
    return session.id, {}


def test_stored_hostile_fields_are_printed_safely_by_every_command(
    poisoned: tuple[str, dict[str, str]],
) -> None:
    session_id, env = poisoned
    for args in (("sessions",), ("show", session_id), ("show", session_id, "--json")):
        result = _invoke(env, *args)
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.stdout + result.stderr)
        assert "pwned" in result.stdout  # shown, as symbols, not hidden
    # The question before deleting for good names the (hostile) title; so do the trash lines.
    asked = CliRunner().invoke(cli, ["delete", session_id, "--forever"], input="n\n", env=env)
    assert asked.exit_code == 1 and "pwned" in asked.output
    assert_terminal_safe(asked.output)
    for args in (("delete", session_id), ("trash",), ("trash", "--json")):
        result = _invoke(env, *args)
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.stdout + result.stderr)


def test_the_tui_never_writes_stored_controls_to_the_terminal(
    poisoned: tuple[str, dict[str, str]], tmp_path: Any
) -> None:
    """The real app on a pseudo-terminal: the story view, the part editor (E) and the bible
    (b, with the model-written summary) show the hostile story; none of its escape sequences
    reaches the terminal (Textual's own sequences do, so look for the injected ones)."""
    import os

    from tests.pty_app import PtyApp

    report = tmp_path / "ready.json"
    env = {**os.environ, "STORYTERM_STARTUP_REPORT": str(report)}
    with PtyApp(env, ready_file=report) as app:
        app.wait_for(b"Roads")
        app.press("escape", "E")
        app.wait_for(b"Editing part 1")
        app.press("escape")
        app.press("b")
        app.wait_for(b"Story bible")
        app.wait_for(b"Mara waits")
        output = bytes(app.output)
    # Textual writes BELs of its own (OSC 22, the pointer shape): look for the stories' ones.
    for injected in (b"\x1b]0;pwned", b"\x1b]2;pwned", b"\x1b[2J", b"pwned\x07", b"\xe2\x80\xae"):
        assert injected not in output, f"{injected!r} reached the terminal"
    assert "␛]0;pwned␇".encode() in output
