"""Finishing an interrupted part: the model goes on from where the part's text stops, and the
continuation is a new take of the same part (the interrupted take kept, undo goes back to it).
On SQLite and PostgreSQL, with and without Redis, against the project's Ollama stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core.basics import PartState, TakeKind
from storyterm.core.generation.continuation import Continuation, joint
from storyterm.core.generation.events import Failed, Finished, Saved, TextDelta
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from tests.story_helpers import StoryKit, consume_until, make_kit, text_of

CONTINUATION = "keeper broke the seal at last, and read the first line aloud."


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"]) as fake:
        yield fake


@pytest.fixture(
    params=[("sqlite", False), ("sqlite", True), ("postgres", False), ("postgres", True)],
    ids=["sqlite", "sqlite-redis", "postgres", "postgres-redis"],
)
def kit(
    request: pytest.FixtureRequest, tmp_path: Path, fake_ollama: FakeOllama
) -> Iterator[StoryKit]:
    backend, with_redis = request.param
    url = None if backend == "sqlite" else request.getfixturevalue("postgres_migrated_url")
    redis_url = request.getfixturevalue("redis_url") if with_redis else None
    story_kit = make_kit(tmp_path, fake_ollama, database_url=url, redis_url=redis_url)
    yield story_kit
    story_kit.close()


@pytest.fixture
def sqlite_kit(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake_ollama)
    yield story_kit
    story_kit.close()


def deltas(events: list) -> int:
    return sum(isinstance(e, TextDelta) for e in events)


async def interrupted_story(kit: StoryKit, fake: FakeOllama, *, before: int = 0) -> tuple[str, str]:
    """A story whose newest part (after `before` finished ones) was stopped mid-stream: its id
    and the interrupted text."""
    session = kit.new_session()
    for n in range(before):
        await kit.run(session.id, f"Step {n + 1}")
    fake.tokens, fake.rate = 2000, 300
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, session.id, "The letter", cancel=cancel)
    await consume_until(stream, lambda seen: deltas(seen) >= 12)
    cancel.set()
    rest = [event async for event in stream]
    assert isinstance(rest[-1], Finished) and rest[-1].interrupted
    fake.tokens, fake.rate = 120, None
    return session.id, rest[-1].part.content


async def test_an_interrupted_part_is_finished_as_a_new_take_of_the_same_part(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    sid, interrupted = await interrupted_story(kit, fake_ollama, before=1)
    fake_ollama.reply = CONTINUATION
    events = await kit.run(sid, finish=True)
    finished = events[-1]
    assert isinstance(finished, Finished) and not finished.interrupted
    part = finished.part
    assert (part.seq, part.take, part.takes, part.take_kind) == (2, 2, 2, TakeKind.CONTINUED)
    assert part.state is PartState.DONE and part.direction == "The letter"
    # The old words, then the model's new ones, joined by one space.
    assert part.content == interrupted.rstrip() + " " + CONTINUATION
    assert interrupted.strip() and part.content.startswith(interrupted)
    # What streamed is exactly what was added.
    assert interrupted + text_of(events) == part.content
    opened = kit.sessions.open(kit.user_id, sid)
    assert [p.seq for p in opened.parts] == [1, 2] and opened.parts[-1].content == part.content
    assert opened.session.part_count == 2
    words = len(opened.parts[0].content.split()) + len(part.content.split())
    assert opened.session.word_count == words

    # The interrupted take is still there, and undo goes back to it.
    takes = kit.sessions.history.takes(kit.user_id, sid, 2)
    assert [(t.number, t.kind, t.state, t.chosen) for t in takes] == [
        (1, TakeKind.GENERATED, PartState.INTERRUPTED, False),
        (2, TakeKind.CONTINUED, PartState.DONE, True),
    ]
    assert takes[0].content == interrupted
    assert kit.sessions.history.undo(kit.user_id, sid) == "Part 2 shows take 1 again."
    back = kit.sessions.get_part(kit.user_id, sid, 2)
    assert (back.content, back.state, back.take) == (interrupted, PartState.INTERRUPTED, 1)
    assert kit.sessions.open(kit.user_id, sid).parts[-1].content == interrupted  # the hot copy
    kit.sessions.history.redo(kit.user_id, sid)
    assert kit.sessions.get_part(kit.user_id, sid, 2).content == part.content


async def test_the_prompt_ends_with_the_parts_text_and_asks_to_go_on_from_it(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    sid, interrupted = await interrupted_story(kit, fake_ollama, before=1)
    first = kit.sessions.get_part(kit.user_id, sid, 1)
    await kit.run(sid, finish=True)
    messages = fake_ollama.chat_requests[-1].messages
    last = messages[-1]
    assert last["role"] == "user"
    assert last["content"].endswith(interrupted)
    assert "exactly where the text below stops" in last["content"]
    assert "Do not repeat" in last["content"]
    assert "The letter" in last["content"]  # the part's own direction
    # The story before the part is there as for any part; the part's text only once.
    sent = "\n".join(str(m["content"]) for m in messages)
    assert first.content.strip()[:60] in sent
    assert sent.count(interrupted.strip()[:60]) == 1


async def test_stopping_a_finish_keeps_what_it_added_as_interrupted(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    sid, interrupted = await interrupted_story(kit, fake_ollama)
    fake_ollama.tokens, fake_ollama.rate = 2000, 300
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, sid, "", finish=True, cancel=cancel)
    seen = await consume_until(stream, lambda s: deltas(s) >= 8)
    cancel.set()
    rest = [event async for event in stream]
    finished = rest[-1]
    assert isinstance(finished, Finished) and finished.interrupted
    part = finished.part
    assert part.content == interrupted + text_of(seen + rest)
    assert len(part.content.split()) >= len(interrupted.split()) + 8
    assert (part.take, part.takes, part.state) == (2, 2, PartState.INTERRUPTED)
    # Still interrupted: it can be finished again, from its new end.
    fake_ollama.tokens, fake_ollama.rate = 120, None
    fake_ollama.reply = "And so it ended."
    again = (await kit.run(sid, finish=True))[-1].part
    assert (again.take, again.takes) == (3, 3) and again.content.startswith(part.content)
    assert again.content.endswith("And so it ended.")


async def test_finishing_a_part_that_ended_normally_is_refused(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    session = kit.new_session()
    await kit.run(session.id, "Mara finds the letter")
    await kit.run(session.id, "She reads it")
    asked = len(fake_ollama.chat_requests)
    [failed] = await kit.run(session.id, finish=True, part=1)
    assert isinstance(failed, Failed) and isinstance(failed.error, InvalidTransition)
    assert failed.error.message == (
        "Part 1 ended normally; regenerate it for a new take, or write the next part."
    )
    [nothing] = await kit.run(kit.new_session("Empty").id, finish=True)
    assert "has no part to finish yet" in nothing.error.message
    [missing] = await kit.run(session.id, finish=True, part=9)
    assert isinstance(missing.error, NotFound)
    assert len(fake_ollama.chat_requests) == asked  # no model time spent
    assert kit.sessions.history.takes(kit.user_id, session.id, 1)[0].chosen


async def test_a_second_generation_while_finishing_is_refused(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    sid, _ = await interrupted_story(kit, fake_ollama)
    fake_ollama.tokens, fake_ollama.rate = 2000, 300
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, sid, "", finish=True, cancel=cancel)
    await consume_until(stream, lambda s: deltas(s) >= 3)
    for kwargs in ({}, {"regenerate": True}, {"finish": True}):
        [failed] = await kit.run(sid, **kwargs)
        assert isinstance(failed.error, Conflict), kwargs
        assert "being written right now" in failed.error.message
    cancel.set()
    [event async for event in stream]
    assert kit.sessions.get(kit.user_id, sid).part_count == 1


async def test_paused_completed_and_trashed_stories_are_not_finished(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit = sqlite_kit
    sid, _ = await interrupted_story(kit, fake_ollama)
    kit.sessions.pause(kit.user_id, sid)
    [failed] = await kit.run(sid, finish=True)
    assert "is paused. Resume it first" in failed.error.message
    kit.sessions.resume(kit.user_id, sid)
    kit.sessions.complete(kit.user_id, sid)
    [failed] = await kit.run(sid, finish=True)
    assert "completed and read-only" in failed.error.message
    kit.sessions.history.reopen(kit.user_id, sid)
    kit.sessions.history.delete_part(kit.user_id, sid, 1)
    [failed] = await kit.run(sid, finish=True, part=1)
    assert isinstance(failed.error, (NotFound, InvalidTransition))
    kit.sessions.history.undo(kit.user_id, sid)
    kit.sessions.history.delete(kit.user_id, sid)
    [failed] = await kit.run(sid, finish=True)
    assert isinstance(failed.error, NotFound)


async def test_finish_with_regenerate_or_a_direction_is_refused(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit = sqlite_kit
    sid, _ = await interrupted_story(kit, fake_ollama)
    [both] = await kit.run(sid, finish=True, regenerate=True)
    assert isinstance(both.error, InvalidInput) and "not both" in both.error.message
    [steered] = await kit.run(sid, "Something else", finish=True)
    assert isinstance(steered.error, InvalidInput)
    assert "leave the direction out" in steered.error.message
    assert kit.sessions.get_part(kit.user_id, sid, 1).takes == 1


async def test_a_finish_that_adds_nothing_leaves_no_take(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit = sqlite_kit
    sid, interrupted = await interrupted_story(kit, fake_ollama)
    fake_ollama.reply = "   "
    [*_, failed] = await kit.run(sid, finish=True)
    assert isinstance(failed, Failed) and "finished without adding anything" in failed.error.message
    assert "Part 1 is as it was" in failed.error.message
    part = kit.sessions.get_part(kit.user_id, sid, 1)
    assert (part.content, part.take, part.takes, part.state) == (
        interrupted,
        1,
        1,
        PartState.INTERRUPTED,
    )
    # Failing before the first word leaves nothing either, and nothing to undo.
    fake_ollama.reply = None
    fake_ollama.error_after = 0
    [*_, failed] = await kit.run(sid, finish=True)
    assert isinstance(failed, Failed) and "Part 1 is as it was" in failed.error.message
    assert kit.sessions.get_part(kit.user_id, sid, 1).takes == 1
    with pytest.raises(InvalidTransition, match="nothing to undo"):
        kit.sessions.history.undo(kit.user_id, sid)


async def test_checkpoints_save_the_old_text_and_the_reply_so_far(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit = sqlite_kit
    sid, interrupted = await interrupted_story(kit, fake_ollama)
    fake_ollama.tokens, fake_ollama.rate = 60, 40
    events = await kit.run(sid, finish=True)
    saved = [e.part for e in events if isinstance(e, Saved)]
    assert saved, "a checkpoint while it streamed"
    for part in saved:
        assert part.content.startswith(interrupted) and part.state is PartState.STREAMING
    assert events[-1].part.content == interrupted + text_of(events)


async def test_a_paragraph_the_reply_starts_is_kept(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit = sqlite_kit
    sid, interrupted = await interrupted_story(kit, fake_ollama)
    fake_ollama.reply = "\n\nMorning came grey over the harbour."
    part = (await kit.run(sid, finish=True))[-1].part
    assert part.content == interrupted + "\n\nMorning came grey over the harbour."


async def test_a_finished_part_round_trips_through_story_json(
    sqlite_kit: StoryKit, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    from storyterm.core.export import export_session, import_story

    kit = sqlite_kit
    sid, interrupted = await interrupted_story(kit, fake_ollama)
    await kit.run(sid, finish=True)
    result = export_session(kit.sessions, kit.user_id, sid, out_dir=tmp_path / "out")
    data = json.loads((result.folder / "story.json").read_text())
    [part] = data["parts"]
    assert (part["take"], part["take_kind"]) == (2, "continued")
    copy = import_story(kit.sessions, kit.user_id, result.folder, again=True)
    before = kit.sessions.history.takes(kit.user_id, sid, 1)
    after = kit.sessions.history.takes(kit.user_id, copy.id, 1)
    assert [(t.number, t.kind, t.state, t.content, t.chosen) for t in after] == [
        (t.number, t.kind, t.state, t.content, t.chosen) for t in before
    ]
    assert [t.kind for t in after] == [TakeKind.GENERATED, TakeKind.CONTINUED]
    assert after[0].content == interrupted


@pytest.mark.parametrize(
    ("prefix", "reply", "joined"),
    [
        ("the keeper", "broke the seal", "the keeper broke the seal"),
        ("the keeper ", " broke the seal", "the keeper broke the seal"),
        ("the keeper", " broke the seal", "the keeper broke the seal"),
        ("the keeper ", "broke", "the keeper broke"),
        ("It was late.", "\n\nMorning came.", "It was late.\n\nMorning came."),
        ("It was late.\n\n", "Morning came.", "It was late.\n\nMorning came."),
        ("It was late.\n\n", "\n\nMorning came.", "It was late.\n\nMorning came."),
        ("It was late.\n", "\n\nMorning came.", "It was late.\n\nMorning came."),
        ("It was late. ", "\n\nMorning came.", "It was late. \n\nMorning came."),
        ("the keeper", ", at last, broke it", "the keeper, at last, broke it"),
        ("Mara", "'s lamp", "Mara's lamp"),
        ('She said, "', 'Come here."', 'She said, "Come here."'),
        ('"Come here', '," she said.', '"Come here," she said.'),
        ('"Come here."', "She came.", '"Come here." She came.'),
        ('She waited. "Come here', '" she said.', 'She waited. "Come here" she said.'),
        ("He said—", "nothing", "He said—nothing"),
        ("灯台守は", "手紙を読んだ", "灯台守は手紙を読んだ"),
        ("the keeper", "   ", "the keeper"),
        ("", "Morning came.", "Morning came."),
    ],
)
def test_the_reply_joins_the_text_without_doubled_space_or_lost_breaks(
    prefix: str, reply: str, joined: str
) -> None:
    carry = Continuation(prefix, "")
    assert carry.text(reply) == joined
    # Streamed a character at a time, the screen shows the same text.
    shown = Continuation(prefix, "")
    assert prefix + "".join(shown.feed(c) for c in reply) == joined
    assert joint(prefix, "", "x") in ("", " ")
