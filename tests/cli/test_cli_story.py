"""`storyterm new|continue|models` as a writer uses them, including kill -9 mid-stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.cli.common import current_user_id
from storyterm.core import views as views_module
from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.helpers import login_as

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Writer:
    """A logged-in writer at the command line: in-process runs and subprocess environments.

    Accounts (issue 3) change only this fixture: log in once and put the token in `env`.
    """

    runner: CliRunner
    env: dict[str, str]

    def invoke(self, *args: str) -> Result:
        return self.runner.invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "storyterm", *args],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def runtime(self) -> Runtime:
        return Runtime()

    def new_story(self, title: str = "The Keeper's Letter", *extra: str) -> str:
        result = self.invoke("new", title, "--genre", "mystery", *extra)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest", "qwen3:4b"], tokens=40) as server:
        yield server


@pytest.fixture
def writer(fake: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> Writer:
    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    login_as(monkeypatch, "mara")  # STORYTERM_TOKEN, which subprocesses inherit too
    return Writer(CliRunner(), {"OLLAMA_HOST": fake.url, "PYTHONUNBUFFERED": "1"})


def stored_parts(session_id: str):
    runtime = Runtime()
    try:
        user_id = current_user_id(runtime)
        return runtime.sessions.all_parts(user_id, session_id)
    finally:
        runtime.close()


def test_new_prints_the_id_or_json(writer: Writer) -> None:
    session_id = writer.new_story()
    assert len(session_id) == 36
    result = writer.invoke(
        "new", "Salt Roads", "--tone", "bleak", "--premise", "Two sisters walk north.",
        "--characters", "Ada; Bea", "--style-notes", "spare", "--model", "qwen3:4b", "--json",
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["title"] == "Salt Roads" and data["model_name"] == "qwen3:4b"
    assert data["session_metadata"] == {
        "tone": "bleak",
        "premise": "Two sisters walk north.",
        "characters": "Ada; Bea",
        "style_notes": "spare",
    }
    default = writer.invoke("new", "Winter Orchard", "--json")
    assert json.loads(default.stdout)["model_name"] == "gemma3:latest"


def test_new_with_ollama_down_still_creates_the_story(writer: Writer) -> None:
    writer.env["OLLAMA_HOST"] = "http://127.0.0.1:9"
    result = writer.invoke("new", "Glass Cartographer", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["model_name"] == "gemma3:latest"
    assert "Ollama is not running at http://127.0.0.1:9" in result.stderr
    assert "once Ollama has it" in result.stderr
    bad = writer.invoke("new", "   ")
    assert bad.exit_code == 1 and "needs a title" in bad.stderr


def test_new_with_a_model_that_is_not_installed_says_so(writer: Writer) -> None:
    result = writer.invoke("new", "Tide Tables", "--model", "llama3", "--json")
    session_id = json.loads(result.stdout)["id"]
    assert json.loads(result.stdout)["model_name"] == "gemma3:latest"
    assert "llama3 is not installed in Ollama; using gemma3:latest" in result.stderr
    assert "Run `ollama pull llama3` to get it, then switch the story to it." in result.stderr
    assert f"`storyterm continue {session_id[:8]} --model llama3` does that." in result.stderr


def test_models_lists_and_marks_the_choice(writer: Writer) -> None:
    result = writer.invoke("models")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("● gemma3:latest") and "new stories use this" in lines[0]
    assert "context 32,768" in lines[0]
    assert lines[1].startswith("  qwen3:4b")
    data = json.loads(writer.invoke("models", "--json").stdout)
    assert data["chosen"] == "gemma3:latest" and len(data["models"]) == 2
    writer.env["OLLAMA_HOST"] = "http://127.0.0.1:9"
    down = writer.invoke("models")
    assert down.exit_code == 1
    assert "Ollama is not running at http://127.0.0.1:9" in down.stderr


def test_continue_streams_the_part_and_reports_numbers(writer: Writer, fake: FakeOllama) -> None:
    session_id = writer.new_story()
    result = writer.invoke("continue", session_id[:8], "--direction", "Mara finds the letter")
    assert result.exit_code == 0, result.stderr
    sent = fake.chat_requests[-1].text_sent
    assert result.stdout == sent + "\n"
    assert "Part 1 saved · 40 tokens ·" in result.stderr and "tokens/s" in result.stderr
    [part] = stored_parts(session_id)
    assert part.content == sent and part.direction == "Mara finds the letter"
    again = writer.invoke("continue", session_id, "--regenerate", "--model", "qwen3:4b")
    assert again.exit_code == 0, again.stderr
    assert fake.chat_requests[-1].body["model"] == "qwen3:4b"
    assert [p.seq for p in stored_parts(session_id)] == [1]


def test_continue_errors_exit_1_with_a_message(writer: Writer, fake: FakeOllama) -> None:
    session_id = writer.new_story()
    writer.invoke("pause", session_id)
    paused = writer.invoke("continue", session_id)
    assert paused.exit_code == 1 and "is paused. Resume it first" in paused.stderr
    writer.invoke("resume", session_id)
    missing = writer.invoke("continue", session_id, "--model", "llama3")
    assert missing.exit_code == 1
    assert "llama3 is not installed in Ollama (installed: gemma3:latest, qwen3:4b)" in (
        missing.stderr
    )
    fake.error_after, fake.error_message = 5, "model runner crashed"
    failed = writer.invoke("continue", session_id)
    assert failed.exit_code == 1
    assert "model runner crashed" in failed.stderr and "kept in part 1" in failed.stderr
    writer.env["OLLAMA_HOST"] = "http://127.0.0.1:9"
    down = writer.invoke("continue", session_id)
    assert down.exit_code == 1 and "Ollama is not running" in down.stderr


def test_continue_with_a_vanished_model_says_how_to_switch(writer: Writer) -> None:
    session_id = writer.new_story()
    runtime = Runtime()
    try:
        runtime.sessions.set_model(current_user_id(runtime), session_id, "llama9:latest")
    finally:
        runtime.close()
    result = writer.invoke("continue", session_id)
    assert result.exit_code == 1
    assert "llama9:latest is no longer installed" in result.stderr
    # The core's message names no app key; the CLI adds its own way to switch.
    assert "in the app" not in result.stderr
    assert f"storyterm continue {session_id} --model gemma3:latest" in result.stderr


def _wait_for_tokens(fake: FakeOllama, count: int, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        requests = fake.chat_requests
        if requests and len(requests[-1].sent) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the model never got going")


def test_ctrl_c_stops_and_keeps_the_text(writer: Writer, fake: FakeOllama) -> None:
    fake.tokens, fake.rate = 2000, 100
    session_id = writer.new_story()
    proc = writer.spawn("continue", session_id)
    _wait_for_tokens(fake, 40)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr.decode()
    assert "Stopped. Part 1 keeps the" in stderr.decode()
    [part] = stored_parts(session_id)
    assert part.state is PartState.INTERRUPTED
    assert part.content == stdout.decode().rstrip("\n") and len(part.content.split()) >= 40


def test_kill_9_mid_stream_loses_at_most_about_a_second(
    writer: Writer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.tokens, fake.rate = 2000, 50
    session_id = writer.new_story()
    proc = writer.spawn("continue", session_id)  # default checkpoint interval: 1 s
    _wait_for_tokens(fake, 130)  # about 2.6 s of streaming
    killed_at = time.monotonic()
    proc.kill()
    proc.wait(timeout=5)
    proc.stdout.close()
    proc.stderr.close()
    request = fake.chat_requests[-1]
    [part] = stored_parts(session_id)
    assert part.state is PartState.STREAMING  # nobody could mark it: the process is gone
    assert request.text_sent.startswith(part.content)
    # Everything streamed up to a second before the kill (plus slack for a busy machine).
    assert part.content.startswith(request.text_sent_before(killed_at - 1.6))
    assert len(part.content.split()) >= 60
    # On the next open (once the checkpoint is stale) the part shows as interrupted.
    monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(milliseconds=50))
    time.sleep(0.1)
    runtime = Runtime()
    try:
        opened = runtime.sessions.open(current_user_id(runtime), session_id)
    finally:
        runtime.close()
    assert opened.parts[-1].state is PartState.INTERRUPTED
    assert opened.parts[-1].content == part.content
    shown = writer.invoke("show", session_id)
    assert "## Part 1  (interrupted)" in shown.stdout
