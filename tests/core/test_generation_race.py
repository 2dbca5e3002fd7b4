"""A regenerate of the newest part and a continue meeting inside one storyteller, at the moments
the command-line race (tests/cli/test_cli_race.py) can only hit by chance: the continue writes
a whole new part between the regenerate's look at the story and its claim."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.generation.events import Failed, Finished
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.errors import Conflict
from tests.story_helpers import StoryKit, make_kit


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=20) as fake:
        yield fake


@pytest.fixture
def kit(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake_ollama)
    yield story_kit
    story_kit.close()


def hold_first_look(kit: StoryKit) -> tuple[asyncio.Event, asyncio.Event]:
    """The next generation stops inside its preparation (after it has read the story, before
    it claims a part) until `go` is set; `held` says it got there."""
    catalog = kit.storyteller.catalog
    original = catalog.context_length
    held, go = asyncio.Event(), asyncio.Event()

    async def context_length(model: str) -> Any:
        if not held.is_set():
            held.set()
            await go.wait()
        return await original(model)

    catalog.context_length = context_length  # type: ignore[method-assign]
    return held, go


async def test_a_regenerate_of_the_newest_part_is_refused_once_a_continue_went_past_it(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    session = kit.new_session()
    assert isinstance((await kit.run(session.id))[-1], Finished)
    held, go = hold_first_look(kit)
    regenerate = asyncio.create_task(kit.run(session.id, regenerate=True))
    await held.wait()  # it has seen part 1 as the newest
    assert isinstance((await kit.run(session.id))[-1], Finished)  # part 2, written in full
    go.set()
    [failed] = await regenerate
    # Writing part 1 again now would leave part 2 following a take of part 1 that is no
    # longer the story's (its prompt held the old one); the writer asked for the newest part.
    assert isinstance(failed, Failed) and isinstance(failed.error, Conflict)
    assert failed.error.message == (
        "The story has moved on since you asked: part 1 is no longer its newest part, so it "
        "was not written again."
    )
    parts = kit.sessions.all_parts(kit.user_id, session.id)
    assert [(p.seq, p.takes) for p in parts] == [(1, 1), (2, 1)]
    assert len(fake_ollama.chat_requests) == 2  # the refused regenerate spent no model time


async def test_a_regenerate_of_a_named_part_still_writes_it_when_later_parts_exist(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    """Naming the part (part=1) is the writer's choice of an earlier part: no refusal."""
    session = kit.new_session()
    for _ in range(2):
        assert isinstance((await kit.run(session.id))[-1], Finished)
    events = await kit.run(session.id, regenerate=True, part=1)
    assert isinstance(events[-1], Finished) and events[-1].part.seq == 1
    parts = kit.sessions.all_parts(kit.user_id, session.id)
    assert [(p.seq, p.takes) for p in parts] == [(1, 2), (2, 1)]


async def test_a_continue_that_looked_before_a_regenerate_writes_from_the_new_take(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    """The other order: the continue reads the story, a regenerate of the newest part runs in
    full, then the continue claims: its prompt is planned after its claim, from the new take."""
    session = kit.new_session()
    assert isinstance((await kit.run(session.id))[-1], Finished)
    held, go = hold_first_look(kit)
    cont = asyncio.create_task(kit.run(session.id))
    await held.wait()
    assert isinstance((await kit.run(session.id, regenerate=True))[-1], Finished)
    go.set()
    assert isinstance((await cont)[-1], Finished)
    parts = kit.sessions.all_parts(kit.user_id, session.id)
    assert [(p.seq, p.takes) for p in parts] == [(1, 2), (2, 1)]
    last = fake_ollama.chat_requests[-1]
    assert [m["content"] for m in last.messages if m["role"] == "assistant"] == [parts[0].content]


async def test_finishing_the_last_part_is_refused_once_a_continue_went_past_it(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    """The same for finishing an interrupted part without naming it (the last one)."""
    session = kit.new_session()
    kit.store.parts.add(
        kit.user_id, session.id, direction="go", content="Mara walked", state=PartState.INTERRUPTED
    )
    held, go = hold_first_look(kit)
    finish = asyncio.create_task(kit.run(session.id, finish=True))
    await held.wait()
    assert isinstance((await kit.run(session.id))[-1], Finished)
    go.set()
    [failed] = await finish
    assert isinstance(failed, Failed) and isinstance(failed.error, Conflict)
    assert failed.error.message.endswith(
        "part 1 is no longer its newest part, so it was not finished."
    )
    parts = kit.sessions.all_parts(kit.user_id, session.id)
    assert [(p.seq, p.takes) for p in parts] == [(1, 1), (2, 1)]
    assert parts[0].content == "Mara walked" and parts[0].state is PartState.INTERRUPTED
