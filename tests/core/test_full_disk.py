"""A real disk that fills up while a part streams (a small tmpfs holding the SQLite database,
filled by a ballast file once the model has begun): the writer is told the real cause, every
word the model sent is in a recovery file, and once there is room again it all goes back into
the part. tests/core/test_never_lose.py covers the same path with SQLite's own page limit
(tests/disk_full.py's switch); this is the filesystem's ENOSPC, as a writer's laptop gives it."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core import recovery
from storyterm.core.generation.events import Failed, Finished, TextDelta
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.disk_full import SmallDisk, small_disk
from tests.story_helpers import StoryKit, consume_until, make_kit, text_of


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small-disk") as mounted:
        yield mounted


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    # About a second of streaming, some 20 KB of text: far more than the room left in the
    # database's last blocks, so no save of it fits once the disk is full. The model holds
    # after 400 tokens until the disk is full: the part is still being written then, however
    # far the generation runs ahead of its reader on a busy machine.
    with FakeOllama(tokens=3_000, rate=3_000, hang_after=400) as server:
        yield server


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, for this test: roomy, and its own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _kit(disk: SmallDisk, fake: FakeOllama, state_dir: Path) -> StoryKit:
    return make_kit(disk.path, fake, state_dir=state_dir)  # the database: disk.path/stories.db


async def _fill_the_disk_mid_stream(
    kit: StoryKit, disk: SmallDisk, fake: FakeOllama
) -> tuple[str, Failed]:
    """A part streams; once 200 pieces have come (and checkpoints were saved) the disk fills.
    Returns the id of the story and how the generation ended."""
    session = kit.new_session()
    stream = kit.storyteller.generate(kit.user_id, session.id, "The storm")
    seen = await consume_until(stream, lambda s: sum(isinstance(e, TextDelta) for e in s) >= 200)
    disk.fill()
    fake.release_hang()
    seen += [event async for event in stream]
    failed = seen[-1]
    assert isinstance(failed, Failed), failed
    assert failed.text == text_of(seen)
    return session.id, failed


def _recovery_path(message: str) -> Path:
    found = re.search(r"kept in (\S+\.txt)[.,;]", message)
    assert found, message
    return Path(found.group(1))


async def test_a_disk_that_fills_mid_stream_loses_no_word(
    disk: SmallDisk, fake: FakeOllama, tmp_path: Path
) -> None:
    kit = _kit(disk, fake, state_dir=tmp_path / "state")  # another, roomy filesystem
    try:
        session_id, failed = await _fill_the_disk_mid_stream(kit, disk, fake)
        sent = fake.chat_requests[-1].text_sent
        assert fake.chat_requests[-1].finished and failed.text == sent
        message = failed.error.message
        # The real cause, in the database's own words and in a few words of ours.
        assert message.startswith(
            f"The disk holding the database at sqlite:///{disk.path}/stories.db is full "
            "(database or disk is full). Free some space on it, then try again."
        ), message
        words = len(sent.split())
        assert f"The {words:,} words written could not be saved (the disk holding the " in message
        path = _recovery_path(message)
        assert path.parent == tmp_path / "state" / "recovered"
        found = recovery.read_recovery(path)
        assert found.text == sent  # every word the model sent, exactly
        assert found.unsaved.cause == "the disk holding the database is full"
        assert found.unsaved.state == "done"  # the model had finished
        # The part holds its last checkpoint. Marked interrupted when the disk had room for
        # that one small write (it depends on where the ballast left the last block), else
        # still counting as being written for a while, and the writer is told for how long.
        [stored] = kit.sessions.all_parts(kit.user_id, session_id)
        assert sent.startswith(stored.content) and len(stored.content) < len(sent)
        waiting = re.search(r" Part 1 counts as being written for \d+ more seconds?; ", message)
        if stored.state is PartState.STREAMING:
            assert waiting, message
        else:
            assert stored.state is PartState.INTERRUPTED and not waiting, message

        disk.free()  # room again
        part, how = recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)
        assert how.startswith("saved into part 1 of “The Keeper's Letter”"), how
        assert part.content == sent
        [stored] = kit.sessions.all_parts(kit.user_id, session_id)
        assert stored.content == sent and stored.state is PartState.DONE and stored.takes == 1
        fake.tokens, fake.rate = 30, None
        # The part is done now, so the story goes on at once, with no wait for the lease.
        assert isinstance((await kit.run(session_id))[-1], Finished)
    finally:
        kit.close()


async def test_a_state_folder_on_the_full_disk_sends_the_text_to_the_temp_folder(
    disk: SmallDisk, fake: FakeOllama, temp_folder: Path
) -> None:
    """The recovery folder is on the disk that filled: a file can be made there (an inode) but
    not written. The text goes to the temporary folder, and no empty or cut file is left."""
    state_dir = disk.path / "state"
    kit = _kit(disk, fake, state_dir=state_dir)
    try:
        session_id, failed = await _fill_the_disk_mid_stream(kit, disk, fake)
        sent = fake.chat_requests[-1].text_sent
        path = _recovery_path(failed.error.message)
        assert path.parent == temp_folder and path.name.startswith(recovery.TEMP_PREFIX)
        assert recovery.read_recovery(path).text == sent
        folder = recovery.recovery_folder(state_dir)
        assert not folder.exists() or list(folder.iterdir()) == []
        [listed] = recovery.list_recoveries(state_dir)
        assert listed.path == path

        disk.free()
        recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, listed)
        [stored] = kit.sessions.all_parts(kit.user_id, session_id)
        assert stored.content == sent and stored.state is PartState.DONE
    finally:
        kit.close()
