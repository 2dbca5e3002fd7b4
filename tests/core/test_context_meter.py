"""The context meter: the next prompt's size, as the next generation will plan it, with what
the writer types counted as they type (core/memory/meter.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core.memory.meter import ContextMeter
from storyterm.core.memory.state import LAST_ESTIMATE, MemoryState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.story_helpers import StoryKit, make_kit


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=8) as fake:
        yield fake


@pytest.fixture
def kit(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake_ollama, max_num_ctx=2048)
    yield story_kit
    story_kit.close()


def story(kit: StoryKit, parts: int, words: int) -> str:
    session = kit.new_session()
    for n in range(1, parts + 1):
        kit.sessions.append_part(
            kit.user_id,
            session.id,
            direction=f"Step {n}",
            content=" ".join(f"word{n}x{i}" for i in range(words)),
        )
    return session.id


def estimated(kit: StoryKit, session_id: str) -> int:
    memory = kit.sessions.get(kit.user_id, session_id).memory
    return int(memory[LAST_ESTIMATE])


@pytest.mark.parametrize("direction", ["", "Mara reads the letter aloud, slowly, twice."])
async def test_the_meter_says_what_the_next_prompt_will_take(kit: StoryKit, direction: str) -> None:
    sid = story(kit, parts=6, words=40)
    await kit.run(sid, "Begin")  # the story now knows its model's window and its ratio
    meter = kit.storyteller.context_meter(kit.user_id, sid)
    assert meter.known_window and meter.num_ctx == 2048
    expected = meter.tokens(direction)
    await kit.run(sid, direction)
    # The whole prompt is estimated at once, the typed text on its own: a token of rounding.
    assert abs(estimated(kit, sid) - expected) <= 1
    assert meter.label(direction) == f"ctx {expected}/2k"


async def test_a_long_story_fills_the_room_and_no_more(kit: StoryKit) -> None:
    sid = story(kit, parts=60, words=120)  # far more than 2,048 tokens of parts
    meter = kit.storyteller.context_meter(kit.user_id, sid)
    assert not meter.known_window and meter.label("").endswith("/~2k")  # not written yet
    assert meter.room - 200 < meter.tokens("") <= meter.room
    assert meter.tokens("a very long direction " * 200) == meter.room


def test_what_is_typed_counts_with_the_storys_ratio() -> None:
    meter = ContextMeter(
        num_ctx=8192, room=6000, planned=1000, ratio=2.0, continue_chars=19, known_window=True
    )
    assert meter.tokens("") == meter.tokens("   ") == 1000
    # 40 characters at 2 tokens per 4 characters (20), in place of the default request's 10.
    assert meter.tokens("x" * 40) == 1000 + 20 - 10
    assert meter.label("") == "ctx 1k/8k"
    assert meter.label("x" * 4000) == "ctx 3k/8k"  # 2,990
    assert MemoryState.from_memory({}).num_ctx is None
