"""`storyterm continue` in a real process whose database is on a disk that fills up while the
part streams (a small tmpfs, tests/disk_full.py): it says why the part was not saved and where
the text is, and `storyterm recover` puts every word back once there is room."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.cli.test_cli_story import Writer, stored_parts
from tests.disk_full import SmallDisk, small_disk
from tests.helpers import login_as


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small-disk") as mounted:
        yield mounted


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=3_000, rate=2_000) as server:
        yield server


def _wait_for_tokens(fake: FakeOllama, count: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        requests = fake.chat_requests
        if requests and len(requests[-1].sent) >= count:
            return
        time.sleep(0.01)
    raise AssertionError("the model never got going")


def test_continue_on_a_disk_that_fills_keeps_every_word_for_recover(
    disk: SmallDisk, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{disk.path}/stories.db"
    monkeypatch.setenv("STORYTERM_DATABASE_URL", database)
    monkeypatch.setenv("OLLAMA_HOST", fake.url)
    login_as(monkeypatch, "mara")  # STORYTERM_TOKEN, which the process inherits
    writer = Writer(CliRunner(), {"OLLAMA_HOST": fake.url, "PYTHONUNBUFFERED": "1"})
    session_id = writer.new_story()

    proc = writer.spawn("continue", session_id)
    _wait_for_tokens(fake, 100)
    disk.fill()
    stdout, stderr = (out.decode() for out in proc.communicate(timeout=60))
    assert proc.returncode == 1, stderr
    sent = fake.chat_requests[-1].text_sent
    assert stdout.rstrip("\n") == sent  # every word the model sent was printed
    words = len(sent.split())
    assert f"storyterm: The disk holding the database at {database} is full" in stderr
    found = re.search(
        rf"The {words:,} words written could not be saved \(the disk holding the database is "
        r"full\); they are kept in (\S+\.txt)",
        stderr,
    )
    assert found, stderr
    path = Path(found.group(1))
    assert f"storyterm recover {path}" in stderr

    disk.free()  # room again
    back = writer.invoke("recover", str(path))
    assert back.exit_code == 0, back.stderr
    assert back.stdout.startswith(f"The {words:,} words are back: saved into part 1 of")
    [part] = stored_parts(session_id)
    assert part.content == sent and part.state is PartState.DONE
    assert not path.exists()
