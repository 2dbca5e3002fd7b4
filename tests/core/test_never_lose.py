"""Never lose a word, in the core: a reply past the part limit ends the part at the limit (saved,
done, with the reason said), and a final save that fails writes the text to a recovery file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core import text as text_rules
from storyterm.core.generation.events import Finished, Saved
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.story_helpers import StoryKit, make_kit, text_of, wait_for

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
