"""`storyterm continue` never loses a word: SIGTERM and SIGHUP stop it the way Ctrl-C does (a real
process, the fake Ollama streaming slowly), a reply past the part limit ends the part there and
says why, and a save that fails leaves the text in a recovery file that `storyterm recover` puts
back."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.core import text as text_rules
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.cli.test_cli_story import Writer, stored_parts
from tests.disk_full import disk_full_switch
from tests.helpers import login_as


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=40) as server:
        yield server


@pytest.fixture
def writer(fake: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> Writer:
    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    login_as(monkeypatch, "mara")  # STORYTERM_TOKEN, which subprocesses inherit too
    # No checkpoint falls due while these parts stream: what is saved got there by the stop.
    env = {"OLLAMA_HOST": fake.url, "PYTHONUNBUFFERED": "1", "STORYTERM_CHECKPOINT_INTERVAL": "60"}
    return Writer(CliRunner(), env)


def _wait_for_tokens(fake: FakeOllama, count: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        requests = fake.chat_requests
        if requests and len(requests[-1].sent) >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the model never got going")


class _Terminal:
    """The reading end of a process's stdout, read in a thread until `close` (then closed by
    that thread: closing a pipe another thread is reading waits for it)."""

    def __init__(self, pipe) -> None:  # type: ignore[no-untyped-def]
        self.pipe = pipe
        self.data = bytearray()
        self._closing = threading.Event()
        self._closed = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            while not self._closing.is_set() and (chunk := self.pipe.read1(65536)):
                self.data += chunk
        finally:
            self.pipe.close()
            self._closed.set()

    def close(self) -> bytes:
        """Close the pipe (at the next chunk); returns what was read before."""
        self._closing.set()
        assert self._closed.wait(10), "the pipe was not closed"
        return bytes(self.data)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_mid_stream_keeps_every_word_received(
    writer: Writer, fake: FakeOllama, signum: signal.Signals
) -> None:
    fake.tokens, fake.rate = 2000, 100
    session_id = writer.new_story()
    proc = writer.spawn("continue", session_id)
    _wait_for_tokens(fake, 40)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 128 + signum, stderr.decode()
    assert "Stopped. Part 1 keeps the" in stderr.decode()
    [part] = stored_parts(session_id)
    assert part.state is PartState.INTERRUPTED
    printed = stdout.decode().rstrip("\n")
    assert len(printed.split()) >= 40
    assert part.content == printed  # every word received was printed, and all are saved
    # Not "being written" for 15 seconds: the story goes on at once.
    fake.tokens, fake.rate = 30, None
    again = writer.invoke("continue", session_id)
    assert again.exit_code == 0, again.stderr
    assert [p.seq for p in stored_parts(session_id)] == [1, 2]


def test_a_closed_terminal_stops_the_printing_not_the_saving(
    writer: Writer, fake: FakeOllama
) -> None:
    """The terminal goes away (its end of stdout and stderr closed: writes fail), then SIGHUP
    comes: the process reads on meanwhile, saves all of it, and ends as a hang-up."""
    fake.tokens, fake.rate = 2000, 100
    session_id = writer.new_story()
    proc = writer.spawn("continue", session_id)
    proc.stderr.close()  # only a note was written there yet: it sits in the pipe
    terminal = _Terminal(proc.stdout)
    _wait_for_tokens(fake, 30)
    printed = terminal.close().decode()
    time.sleep(0.3)  # the process writes into the closed pipes (and must not die of it)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=15) == 128 + signal.SIGHUP
    [part] = stored_parts(session_id)
    assert part.state is PartState.INTERRUPTED
    assert part.content.startswith(printed.rstrip("\n"))
    assert len(part.content.split()) > len(printed.split())  # it read on after the close


def test_a_reply_past_the_part_limit_is_saved_to_the_limit_and_the_writer_told(
    writer: Writer, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_rules, "MAX_PART", 2_000)
    fake.tokens, fake.ignore_num_predict = 20_000, True
    session_id = writer.new_story()
    result = writer.invoke("continue", session_id)
    assert result.exit_code == 0, result.stderr
    assert "Part 1 saved" in result.stderr
    assert "reached the most a part can hold (2,000 characters)" in result.stderr
    [part] = stored_parts(session_id)
    assert part.state is PartState.DONE and len(part.content) == 2_000
    assert result.stdout.rstrip("\n") == part.content


def test_a_failed_save_leaves_a_recovery_file_that_recover_puts_back(
    writer: Writer, fake: FakeOllama
) -> None:
    fake.tokens, fake.rate = 1_500, 1_000
    session_id = writer.new_story()
    with disk_full_switch() as disk:

        def fill_the_disk() -> None:
            _wait_for_tokens(fake, 100)
            disk.full.set()

        threading.Thread(target=fill_the_disk, daemon=True).start()
        result = writer.invoke("continue", session_id)
        assert result.exit_code == 1, result.stderr
        written = result.stdout.rstrip("\n")
        words = len(written.split())
        assert "The disk holding the database at sqlite:" in result.stderr
        assert f"The {words:,} words written could not be saved (the disk holding the " in (
            result.stderr
        )
        found = re.search(r"they are kept in (\S+\.txt),", result.stderr)
        assert found, result.stderr
        path = Path(found.group(1))
        assert f"`storyterm recover {path}` puts them back" in result.stderr

        disk.full.clear()  # room again
        listed = writer.invoke("recover")
        assert listed.exit_code == 0, listed.stderr
        assert listed.stdout.splitlines()[0] == str(path)
        assert f"“The Keeper's Letter” part 1 · {words:,} words" in listed.stdout
        back = writer.invoke("recover", str(path))
        assert back.exit_code == 0, back.stderr
        assert back.stdout.startswith(
            f"The {words:,} words are back: saved into part 1 of “The Keeper's Letter”"
        )
        assert not path.exists()
        again = writer.invoke("recover", str(path))
        assert again.exit_code == 1 and f"There is no recovery file {path}." in again.stderr
    [part] = stored_parts(session_id)
    assert part.content == written and part.state is PartState.DONE  # the model had finished
    assert "No recovery files: every word was saved." in writer.invoke("recover").stderr
