"""Streaming parts: checkpointed while they are written, and a crash loses at most the last
checkpoint; the next open shows an abandoned part as interrupted, never a live one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.cli import sessions as sessions_cli
from storyterm.core import views as views_module
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState
from storyterm.errors import Conflict, InvalidTransition
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def test_a_part_is_checkpointed_while_it_streams(
    service: SessionService, database_url: str
) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "The Keeper's Letter")
    service.append_part(alice, s.id, direction="open", content="Rain on the glass.")
    part = service.begin_part(alice, s.id, direction="the letter", model_name="gemma3:latest")
    assert (part.seq, part.state, part.content) == (2, PartState.STREAMING, "")

    text = ""
    for chunk in ("The keeper", " broke the seal", " at last, and the", " words ran."):
        text += chunk
        saved, session = service.checkpoint_part(alice, s.id, part.seq, text)
        assert saved.state is PartState.STREAMING and saved.content == text
        # The session's word count follows the text as it grows.
        assert session.word_count == 4 + len(text.split())
    done, session = service.checkpoint_part(
        alice,
        s.id,
        part.seq,
        text,
        state=PartState.DONE,
        prompt_tokens=120,
        completion_tokens=14,
    )
    assert done.state is PartState.DONE
    assert (done.prompt_tokens, done.completion_tokens) == (120, 14)

    # What a later process reads back from the database.
    other = Store.open(database_url, None)
    try:
        stored = other.parts.get(alice, s.id, 2)
        assert stored.content == "The keeper broke the seal at last, and the words ran."
        assert stored.state is PartState.DONE and stored.word_count == 11
        assert other.get_session(alice, s.id).word_count == 4 + 11
        assert other.get_session(alice, s.id).part_count == 2
    finally:
        other.close()


def test_a_streaming_part_cannot_be_edited_underneath_the_model(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Busy")
    part = service.begin_part(alice, s.id, direction="go", model_name="m")
    with pytest.raises(InvalidTransition, match="still being written"):
        service.edit_part(alice, s.id, part.seq, content="my own words")


def test_pausing_during_a_generation_keeps_what_was_written(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Paused mid-part")
    part = service.begin_part(alice, s.id, direction="go", model_name="m")
    service.checkpoint_part(alice, s.id, part.seq, "Half a sentence")
    service.pause(alice, s.id)
    # The generation's last checkpoint still lands, and tells it the story is paused.
    saved, session = service.checkpoint_part(
        alice, s.id, part.seq, "Half a sentence, then", state=PartState.INTERRUPTED
    )
    assert session.status.value == "paused"
    assert saved.content == "Half a sentence, then" and saved.state is PartState.INTERRUPTED
    with pytest.raises(InvalidTransition, match="Resume it first"):
        service.begin_part(alice, s.id, direction="more", model_name="m")


CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    url, redis_url, user_id, session_id = sys.argv[1:5]
    service = SessionService(Store.open(url, redis_url or None))
    part = service.begin_part(int(user_id), session_id, direction="the storm", model_name="m")
    service.checkpoint_part(int(user_id), session_id, part.seq, "The storm reached")
    service.checkpoint_part(int(user_id), session_id, part.seq, "The storm reached the harbour")
    print(part.seq, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9: no cleanup, no final write
    """
)


def run_crashing_writer(url: str, redis_url: str, user_id: int, session_id: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, url, redis_url, str(user_id), session_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    return int(proc.stdout.strip())


@pytest.mark.parametrize(
    ("backend", "with_redis"),
    [("sqlite", False), ("sqlite", True), ("postgres", True)],
    ids=["sqlite", "sqlite-redis", "postgres-redis"],
)
def test_a_killed_writer_leaves_an_interrupted_part(
    backend: str,
    with_redis: bool,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database_url = request.getfixturevalue(f"{backend}_url")
    redis_url = request.getfixturevalue("redis_url") if with_redis else ""
    store = Store.open(database_url, redis_url or None)
    service = SessionService(store)
    try:
        alice = make_user(store)
        s = service.start(alice, "Harbour")
        service.append_part(alice, s.id, direction="", content="Before the storm.")
        assert service.open(alice, s.id).from_cache is with_redis
        seq = run_crashing_writer(database_url, redis_url, alice, s.id)

        # Just after the crash the part is indistinguishable from a live one.
        monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(seconds=30))
        live = service.open(alice, s.id)
        assert live.parts[-1].state is PartState.STREAMING

        monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(milliseconds=300))
        time.sleep(0.4)
        opened = service.open(alice, s.id)
        last = opened.parts[-1]
        assert last.seq == seq == 2
        assert last.state is PartState.INTERRUPTED
        assert last.content == "The storm reached the harbour"
        assert opened.session.part_count == 2
        assert opened.session.word_count == 3 + 5
        # It is stored so, not only shown so.
        assert store.parts.get(alice, s.id, seq).state is PartState.INTERRUPTED
        # The story can go on after it.
        nxt = service.begin_part(alice, s.id, direction="next", model_name="m", expected_seq=3)
        assert nxt.seq == 3
    finally:
        store.close()


def test_a_live_streaming_part_is_not_marked_interrupted(
    service: SessionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit must stay well above one checkpoint-to-open gap on a loaded CI machine.
    monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(seconds=1))
    alice = make_user(service.store)
    s = service.start(alice, "Still writing")
    part = service.begin_part(alice, s.id, direction="go", model_name="m")
    for n in range(4):
        service.checkpoint_part(alice, s.id, part.seq, "word " * (n + 1))
        opened = service.open(alice, s.id)
        assert opened.parts[-1].state is PartState.STREAMING
        time.sleep(0.4)  # 1.6 s in all: past the stale limit, but checkpointed each time
    assert service.store.parts.get(alice, s.id, part.seq).state is PartState.STREAMING


def test_show_marks_an_interrupted_part(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    alice = make_user(store)
    s = service.start(alice, "Cut short")
    part = service.begin_part(alice, s.id, direction="go on", model_name="m")
    service.checkpoint_part(alice, s.id, part.seq, "It was a dark and")
    store.close()
    monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(0))
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    monkeypatch.setattr(sessions_cli, "current_user_id", lambda runtime: alice)
    result = CliRunner().invoke(cli, ["show", s.id])
    assert result.exit_code == 0, result.output
    assert "## Part 1  (interrupted)" in result.stdout
    assert "It was a dark and" in result.stdout


def test_a_stale_generation_never_writes_over_its_replacement(service: SessionService) -> None:
    """Window A's generation stalls, window B takes the part for abandoned and regenerates it;
    A's late checkpoint must not overwrite B's new part at the same seq."""
    alice = make_user(service.store)
    s = service.start(alice, "Salt Roads")
    first = service.begin_part(alice, s.id, direction="north", model_name="m", expected_seq=1)
    service.checkpoint_part(alice, s.id, 1, "A's words", expect=first)
    service.remove_last_part(alice, s.id, 1)  # B regenerates: the old part goes ...
    second = service.begin_part(alice, s.id, direction="north", model_name="m", expected_seq=1)
    service.checkpoint_part(alice, s.id, 1, "B's words", expect=second)  # ... and B writes
    with pytest.raises(Conflict, match="replaced in another window"):
        service.checkpoint_part(
            alice, s.id, 1, "A's late words", state=PartState.DONE, expect=first
        )
    kept = service.open(alice, s.id).parts
    assert [(p.seq, p.content, p.state) for p in kept] == [(1, "B's words", PartState.STREAMING)]
