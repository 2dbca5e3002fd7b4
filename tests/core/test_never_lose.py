"""Never lose a word, in the core: a reply past the part limit ends the part at the limit (saved,
done, with the reason said), and a final save that fails writes the text to a recovery file."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core import recovery
from storyterm.core import text as text_rules
from storyterm.core.generation.events import Failed, Finished, Saved, TextDelta
from storyterm.core.storage.tables import PartState
from storyterm.core.views import Part
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.errors import (
    Conflict,
    DatabaseUnavailable,
    GenerationStopped,
    InvalidInput,
    NotFound,
)
from tests.disk_full import DiskFull, disk_full_switch
from tests.story_helpers import StoryKit, consume_until, make_kit, text_of, wait_for

#: The part limit these tests run with (text.MAX_PART is read when a reply starts).
SMALL_LIMIT = 3_000


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(tokens=20_000, ignore_num_predict=True) as server:
        yield server


@pytest.fixture
def kit(tmp_path: Path, fake: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake)
    yield story_kit
    story_kit.close()


async def test_a_reply_past_the_part_limit_ends_the_part_there_and_says_why(
    kit: StoryKit, fake: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_rules, "MAX_PART", SMALL_LIMIT)
    fake.rate = 2_000  # about 0.4 s to the limit: checkpoints come on the way
    session = kit.new_session()
    events = await kit.run(session.id, "Mara keeps talking")
    finished = events[-1]
    assert isinstance(finished, Finished) and not finished.interrupted
    assert finished.done_reason == "limit"
    assert "reached the most a part can hold (3,000 characters)" in finished.message
    part = finished.part
    assert part.state is PartState.DONE
    request = fake.chat_requests[-1]
    # Everything up to the limit is saved, exactly what the model sent and the writer saw.
    assert len(part.content) == SMALL_LIMIT == len(text_of(events))
    assert part.content == text_of(events) == request.text_sent[:SMALL_LIMIT]
    assert any(isinstance(e, Saved) for e in events)  # checkpoints while it streamed
    [stored] = kit.sessions.all_parts(kit.user_id, session.id)
    assert stored.content == part.content and stored.state is PartState.DONE
    # The model was stopped there, not read to the end of its 20,000 tokens.
    await wait_for(lambda: request.disconnected)
    assert not request.finished


@pytest.fixture
def disk() -> Iterator[DiskFull]:
    with disk_full_switch() as switch:
        yield switch


def _deltas(events: list) -> int:
    return sum(isinstance(e, TextDelta) for e in events)


def _recovery_path(message: str) -> Path:
    found = re.search(r"kept in (\S+\.txt), to go back into the story once the database ", message)
    assert found, message
    return Path(found.group(1))


async def test_a_save_that_fails_keeps_every_word_in_a_recovery_file_that_goes_back(
    kit: StoryKit, fake: FakeOllama, disk: DiskFull
) -> None:
    fake.tokens, fake.rate, fake.ignore_num_predict = 5_000, 1_000, False
    session = kit.new_session()
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, session.id, "The storm", cancel=cancel)
    seen = await consume_until(stream, lambda s: _deltas(s) >= 100)
    disk.full.set()  # the disk fills up: the checkpoints fail from here, the stream goes on
    seen += await consume_until(stream, lambda s: _deltas(s) >= 1_000)  # pages more text
    cancel.set()
    seen += [event async for event in stream]
    failed = seen[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, GenerationStopped)
    message = failed.error.message
    written = text_of(seen)
    words = len(written.split())
    assert message.startswith(f"Stopped. The {words:,} words written could not be saved (")
    assert "(the disk holding the database is full)" in message
    path = _recovery_path(message)
    assert path.parent == kit.settings.state_dir / "recovered"
    assert failed.kept_in == path  # a front end names its own way to put it back
    assert "storyterm recover" not in message
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    found = recovery.read_recovery(path)
    assert found.text == written == failed.text  # every word, exactly
    assert failed.recovery == found  # the event says where, for a front end to put it back
    assert found.unsaved.state == "interrupted" and found.unsaved.seq == 1
    assert found.unsaved.cause == "the disk holding the database is full"
    assert recovery.list_recoveries(kit.settings.state_dir) == [found]
    [stored] = kit.sessions.all_parts(kit.user_id, session.id)
    assert written.startswith(stored.content)
    assert len(stored.content) < len(written)  # the last checkpoints did not get there
    # Not left "being written" for 15 seconds: the state alone needed no new page.
    assert stored.state is PartState.INTERRUPTED

    disk.full.clear()  # room again
    part, how = recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)
    assert how.startswith("saved into part 1 of “The Keeper's Letter”, where it was being")
    assert part.content == written and part.state is PartState.INTERRUPTED
    [stored] = kit.sessions.all_parts(kit.user_id, session.id)
    assert stored.content == written and stored.take == 1
    # The story goes on at once.
    fake.tokens, fake.rate = 30, None
    assert isinstance((await kit.run(session.id))[-1], Finished)


def _unsaved(kit: StoryKit, part: Part, **changes: object) -> recovery.Unsaved:
    values: dict[str, object] = {
        "user_id": kit.user_id,
        "session_id": part.session_id,
        "title": "The Keeper's Letter",
        "seq": part.seq,
        "part_id": part.id,
        "take": part.take,
        "part_created_at": part.created_at.isoformat(),
        "direction": "The storm",
        "model_name": "gemma3:latest",
        "state": "done",
        "cause": "the disk holding the database is full",
        "written_at": recovery.now_text(),
    }
    values.update(changes)
    return recovery.Unsaved(**values)  # type: ignore[arg-type]


def test_text_for_a_part_that_changed_goes_back_as_a_new_take(kit: StoryKit) -> None:
    session = kit.new_session()
    part = kit.sessions.append_part(kit.user_id, session.id, direction="go", content="Mara.")
    path = recovery.write_recovery(kit.settings.state_dir, _unsaved(kit, part), "Tobias rows.")
    kit.sessions.history.edit(kit.user_id, session.id, 1, content="Mara waits.")
    found = recovery.read_recovery(path)
    back, how = recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)
    assert how.startswith("added to part 1 of “The Keeper's Letter” as take 3")
    assert back.content == "Tobias rows." and back.take == 3 and back.state is PartState.DONE
    takes = kit.sessions.history.takes(kit.user_id, session.id, 1)
    assert [t.content for t in takes] == ["Mara.", "Mara waits.", "Tobias rows."]


def test_text_for_a_part_that_is_gone_goes_back_as_a_new_part(kit: StoryKit) -> None:
    session = kit.new_session()
    kit.sessions.append_part(kit.user_id, session.id, direction="go", content="Mara.")
    part = kit.sessions.append_part(kit.user_id, session.id, direction="on", content="Tobias.")
    path = recovery.write_recovery(kit.settings.state_dir, _unsaved(kit, part), "The lamp.")
    kit.sessions.history.delete_part(kit.user_id, session.id, 2)
    found = recovery.read_recovery(path)
    back, how = recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)
    assert how.startswith("added to “The Keeper's Letter” as part 2, at the end")
    assert back.content == "The lamp." and back.direction == "The storm"
    # Another writer's text is not theirs to put back, and a story that is gone says so.
    with pytest.raises(InvalidInput, match="another writer's story"):
        recovery.put_back(
            kit.sessions,
            kit.sessions.history,
            kit.user_id + 1,
            recovery.read_recovery(path),
        )
    kit.sessions.history.delete(kit.user_id, session.id)
    with pytest.raises(NotFound, match=r"is not there any more\. If it is in the trash"):
        recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)


def test_a_state_folder_that_cannot_be_written_sends_the_file_to_the_temp_folder(
    kit: StoryKit, tmp_path: Path
) -> None:
    session = kit.new_session()
    part = kit.sessions.append_part(kit.user_id, session.id, direction="go", content="Mara.")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    path = recovery.write_recovery(blocked, _unsaved(kit, part), "Every word.\r\nExactly.")
    try:
        assert path.parent == Path(tempfile.gettempdir())
        assert path.name.startswith("storyterm-recovered-")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert recovery.read_recovery(path).text == "Every word.\r\nExactly."
        assert path in [r.path for r in recovery.list_recoveries(blocked)]
    finally:
        path.unlink()


def test_the_database_s_own_words_become_the_cause() -> None:
    from sqlalchemy.exc import OperationalError

    from storyterm.core.storage.database import describe_error, error_cause

    full = OperationalError("UPDATE", {}, sqlite3.OperationalError("database or disk is full"))
    assert error_cause(full) == "the disk holding the database is full"
    assert describe_error("sqlite:////x/s.db", full).startswith(
        "The disk holding the database at sqlite:////x/s.db is full (database or disk is full)."
    )
    read_only = sqlite3.OperationalError("attempt to write a readonly database")
    assert error_cause(read_only) == "the database cannot be written to (it is read-only)"
    assert error_cause(sqlite3.OperationalError("no such table: x")) is None
    error = DatabaseUnavailable("Cannot open the database.")
    error.__cause__ = full
    assert recovery.save_failure_cause(error) == "the disk holding the database is full"
    assert recovery.save_failure_cause(Conflict("Part 1 was replaced.")) == "Part 1 was replaced"


async def _save_fails_at_the_end(
    kit: StoryKit, fake: FakeOllama, disk: DiskFull
) -> tuple[str, Failed]:
    """A part streams to its end while the disk is full: its final save fails. Returns the
    story's id and how the generation ended."""
    fake.tokens, fake.rate, fake.ignore_num_predict = 1_500, 3_000, False
    session = kit.new_session()
    stream = kit.storyteller.generate(kit.user_id, session.id, "The storm")
    seen = await consume_until(stream, lambda s: _deltas(s) >= 100)
    disk.full.set()
    seen += [event async for event in stream]
    failed = seen[-1]
    assert isinstance(failed, Failed) and failed.kept_in is not None, failed
    return session.id, failed


async def test_a_part_whose_final_save_failed_can_be_continued_at_once(
    kit: StoryKit, fake: FakeOllama, disk: DiskFull
) -> None:
    """The claim is let go when the text went to a recovery file: the part is marked
    interrupted (its last checkpoint), not left "being written" for STREAM_STALE_AFTER."""
    session_id, failed = await _save_fails_at_the_end(kit, fake, disk)
    assert "counts as being written" not in failed.error.message
    disk.full.clear()  # room again, at once
    fake.tokens, fake.rate = 30, None
    assert isinstance((await kit.run(session_id))[-1], Finished)  # not refused
    assert failed.kept_in is not None
    found = recovery.read_recovery(failed.kept_in)
    _part, how = recovery.put_back(kit.sessions, kit.sessions.history, kit.user_id, found)
    assert how.startswith("saved into part 1 of “The Keeper's Letter”, where it was being")
    first, second = kit.sessions.all_parts(kit.user_id, session_id)
    assert first.content == failed.text and first.state is PartState.DONE
    assert second.seq == 2 and second.state is PartState.DONE


async def test_a_part_that_cannot_be_let_go_says_when_it_can_be_continued(
    kit: StoryKit, fake: FakeOllama, disk: DiskFull, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("The database went away.")

    monkeypatch.setattr(kit.sessions, "let_go_part", refuse)
    session_id, failed = await _save_fails_at_the_end(kit, fake, disk)
    found = re.search(
        r" Part 1 counts as being written for (\d+) more seconds?; it can be continued after "
        r"that\.$",
        failed.error.message,
    )
    assert found, failed.error.message
    assert 1 <= int(found.group(1)) <= 15
    disk.full.clear()
    [refused] = await kit.run(session_id)
    assert isinstance(refused, Failed) and isinstance(refused.error, Conflict)
    assert "is being written right now" in refused.error.message
