"""`storyterm continue` and `storyterm continue --regenerate` racing on one story from two
processes, round after round, on SQLite and on PostgreSQL: the two never run at once, the loser
is refused with the message a second `continue` gets, and no prompt is built from a story whose
parts were changing."""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from storyterm.cli.common import current_user_id
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from tests.cli.test_cli_story import ROOT, Writer
from tests.helpers import login_as

ROUNDS = 20
TITLE = "The Keeper's Letter"
#: What the loser of a round is told when the winner is still writing (a second `continue`
#: started while a first one writes is told the same).
BEING_WRITTEN = (
    "storyterm: Part {seq} of “" + TITLE + "” is being written right now. Wait for it to "
    "finish, or stop it there first."
)
#: What a regenerate of the newest part is told when a continue wrote a new newest part in
#: full between the regenerate's look at the story and its claim.
MOVED_ON = (
    "storyterm: The story has moved on since you asked: part {seq} is no longer its newest "
    "part, so it was not written again."
)


class Side:
    """One racer: a process running one storyterm command per round (tests/cli/race_driver.py)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli.race_driver", "--", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )

    def line(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        assert line, f"the {self.name} process said nothing (see {self._log.name})"
        return line

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.line())
        assert "crash" not in report, f"{self.name}: {report['crash']}"
        return report

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@dataclass
class Shape:
    """What a round can change: how many parts, and how many takes the newest has."""

    parts: int
    newest_takes: int


def shape(runtime: Runtime, user_id: int, session_id: str) -> Shape:
    parts = runtime.sessions.all_parts(user_id, session_id)
    return Shape(len(parts), parts[-1].takes if parts else 0)


@pytest.fixture
def marked_fake() -> Iterator[FakeOllama]:
    """Every reply starts with its own mark (Take1, Take2, ...), so a stored take tells which
    request it came from; each streams for about a fifth of a second."""
    counter = itertools.count(1)

    def reply(_body: dict[str, Any]) -> str:
        return f"Take{next(counter)} " + " ".join(["the lamp burned on"] * 6) + "."

    with FakeOllama(models=["gemma3:latest"], reply=reply, rate=120) as server:
        yield server


def test_regenerate_and_continue_racing_never_both_run(
    marked_fake: FakeOllama,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake = marked_fake
    monkeypatch.setenv("STORYTERM_DATABASE_URL", database_url)
    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    login_as(monkeypatch, "mara")  # STORYTERM_TOKEN, inherited by the racers
    env = {"OLLAMA_HOST": fake.url, "PYTHONUNBUFFERED": "1"}
    writer = Writer(CliRunner(), env)
    session_id = writer.new_story(TITLE)
    first = writer.invoke("continue", session_id)
    assert first.exit_code == 0, first.stderr

    runtime = Runtime()
    user_id = current_user_id(runtime)
    sides = [
        Side("continue", ["continue", session_id], env, tmp_path / "continue.log"),
        Side("regenerate", ["continue", session_id, "--regenerate"], env, tmp_path / "regen.log"),
    ]
    outcomes: list[str] = []
    try:
        for side in sides:
            assert side.line().strip() == "ready"
        for round_number in range(ROUNDS):
            before = shape(runtime, user_id, session_id)
            for side in sides:  # back to back: both wake from the same wait
                side.go()
            cont, regen = (side.result() for side in sides)
            after = shape(runtime, user_id, session_id)
            said = f"round {round_number}: continue {cont}, regenerate {regen}"
            if cont["code"] == 0 and regen["code"] == 0:
                # Not a race: one was done before the other looked at the story (a slow
                # start), so the second ran on the story the first left.
                outcomes.append("one after the other")
                assert after.parts == before.parts + 1, said
                assert after.newest_takes in (1, 2), said
                continue
            assert {cont["code"], regen["code"]} == {0, 1}, said  # never both refused
            if cont["code"] == 0:
                outcomes.append("continue won")
                assert after == Shape(before.parts + 1, 1), said
                loser = regen["stderr"].splitlines()[-1]
                assert loser in (
                    BEING_WRITTEN.format(seq=after.parts),
                    MOVED_ON.format(seq=before.parts),
                ), said
            else:
                outcomes.append("regenerate won")
                assert after == Shape(before.parts, before.newest_takes + 1), said
                loser = cont["stderr"].splitlines()[-1]
                assert loser == BEING_WRITTEN.format(seq=before.parts), said
    finally:
        for side in sides:
            side.close()

    try:
        _check_every_prompt(fake, runtime, user_id, session_id)
    finally:
        runtime.close()
    races = sum(o != "one after the other" for o in outcomes)
    assert races >= ROUNDS // 2, outcomes  # the racers did meet, most rounds


def _check_every_prompt(fake: FakeOllama, runtime: Runtime, user_id: int, session_id: str) -> None:
    """Never both run: the model streams of the generations never overlap. And no prompt was
    built from a story whose parts were changing: every take was written from exactly the
    parts before it as the story holds them now (the chosen takes: the newest part alone was
    ever written again)."""
    requests = sorted(fake.chat_requests, key=lambda r: r.at)
    for earlier, later in itertools.pairwise(requests):
        assert earlier.finished and earlier.sent[-1][0] <= later.at, "two models ran at once"

    parts = runtime.sessions.all_parts(user_id, session_id)
    written_by: dict[str, tuple[int, int]] = {}
    for part in parts:
        for take in runtime.history.takes(user_id, session_id, part.seq):
            written_by[take.content.split()[0]] = (part.seq, take.number)
    chosen = [part.content for part in parts]
    for request in requests:
        mark = request.text_sent.split()[0]
        assert mark in written_by, f"{mark}'s text was streamed but is in no take"
        seq, _take = written_by[mark]
        story_so_far = [m["content"] for m in request.messages if m["role"] == "assistant"]
        assert story_so_far == chosen[: seq - 1], f"{mark} (part {seq}) had another story"
    assert len(written_by) == len(requests)
