"""`storyterm watch` as a writer runs it, in a process of its own: it prints what another
process writes (a part streamed by the model, text safe for the terminal), only the writer's
own changes, one JSON object a line with --json, and ends cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.helpers import login_as
from tests.story_helpers import make_kit

ROOT = Path(__file__).resolve().parents[2]


class Watch:
    """`storyterm watch ...` running, its output gathered as it comes."""

    def __init__(self, *args: str, token: str) -> None:
        env = {**os.environ, "STORYTERM_TOKEN": token, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storyterm", "watch", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out = b""
        self.err = b""
        self._readers = [
            threading.Thread(target=self._read, args=("out",), daemon=True),
            threading.Thread(target=self._read, args=("err",), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, which: str) -> None:
        stream = self.proc.stdout if which == "out" else self.proc.stderr
        assert stream is not None
        while chunk := os.read(stream.fileno(), 65536):
            setattr(self, which, getattr(self, which) + chunk)

    @property
    def text(self) -> str:
        return self.out.decode()

    def wait_for(self, what: str, timeout: float = 10.0, *, where: str = "out") -> None:
        deadline = time.monotonic() + timeout
        while what not in getattr(self, where).decode():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(f"{what!r} not printed; out: {self.out!r} err: {self.err!r}")
            time.sleep(0.02)

    def stop(self) -> int:
        """Ctrl-C, as a writer presses it; the exit status."""
        self.proc.send_signal(signal.SIGINT)
        status = self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        return status


@pytest.fixture
def shared(sqlite_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every process of the test on one database and one Redis; returns the database URL."""
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STORYTERM_REDIS_URL", redis_url)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return sqlite_url


def token_of(monkeypatch: pytest.MonkeyPatch, username: str) -> str:
    login_as(monkeypatch, username)
    token = os.environ["STORYTERM_TOKEN"]
    monkeypatch.delenv("STORYTERM_TOKEN")
    return token


@pytest.mark.asyncio
async def test_watch_prints_a_part_another_process_writes_as_it_streams(
    shared: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_of(monkeypatch, "alice")
    with FakeOllama(models=["gemma3:latest"], tokens=60, rate=200) as fake:
        kit = make_kit(tmp_path, fake, database_url=shared, redis_url=redis_url)
        try:
            story = kit.new_session()
            watch = Watch(story.id[:8], token=token)
            try:
                watch.wait_for("The Keeper's Letter — watching")
                watch.wait_for("live events", where="err")
                await kit.run(story.id, "the letter")
                written = kit.sessions.get_part(kit.user_id, story.id, 1).content
                watch.wait_for("part 1 finished")
                # A piece whose text would drive the terminal is shown, never obeyed.
                part = kit.sessions.begin_part(
                    kit.user_id, story.id, direction="go", model_name="m"
                )
                kit.sessions.live_text(kit.user_id, part).add("Rain\x1b[2J\x1b]0;owned\x07 fell.")
                kit.sessions.checkpoint_part(
                    kit.user_id,
                    story.id,
                    2,
                    "Rain\x1b[2J\x1b]0;owned\x07 fell.",
                    state=PartState.DONE,
                )
                watch.wait_for("part 2 finished")
            finally:
                status = watch.stop()
        finally:
            kit.close()
    assert status == 0
    assert b"Traceback" not in watch.err, watch.err
    assert "── part 1 ──\n" + written in watch.text
    assert "Rain" in watch.text and "fell." in watch.text
    assert b"\x1b" not in watch.out and b"\x07" not in watch.out


def test_watch_json_gives_each_writer_only_their_own_events(
    shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyterm.core.runtime import Runtime

    alice, bob = token_of(monkeypatch, "alice"), token_of(monkeypatch, "bob")
    alices, bobs = Watch("--json", token=alice), Watch("--json", token=bob)
    try:
        for watch in (alices, bobs):
            watch.wait_for('"mode":"live"')
        runtime = Runtime()  # a third process, as far as the watches know
        try:
            writer = runtime.identity.verify(alice)
            story = runtime.sessions.start(writer.id, "Only Alice's")
            runtime.sessions.pause(writer.id, story.id)
        finally:
            runtime.close()
        alices.wait_for('"kind":"session.status"')
        time.sleep(0.3)  # time enough for Bob to hear it too, were it sent to him
    finally:
        assert alices.stop() == 0 and bobs.stop() == 0
    lines = [json.loads(line) for line in alices.text.splitlines()]
    assert [line["kind"] for line in lines] == [
        "watch.status",
        "session.created",
        "session.status",
    ]
    assert lines[1]["title"] == "Only Alice's" and lines[2]["status"] == "paused"
    assert [json.loads(line)["kind"] for line in bobs.text.splitlines()] == ["watch.status"]


def test_watching_another_writers_story_says_it_is_not_there(
    shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyterm.core.runtime import Runtime

    alice = token_of(monkeypatch, "alice")
    runtime = Runtime()
    try:
        story = runtime.sessions.start(runtime.identity.verify(alice).id, "Alice's own")
    finally:
        runtime.close()
    login_as(monkeypatch, "bob")
    result = CliRunner().invoke(cli, ["watch", story.id])
    assert result.exit_code == 1
    assert "No story session" in result.output
    assert "Traceback" not in result.output
