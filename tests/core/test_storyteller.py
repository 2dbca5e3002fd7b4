"""The storyteller with the real ChatOllama client against the project's fake Ollama: streaming,
checkpoints, cancel, pause, every failure keeps the text, and long stories stay in the window."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.generation.catalog import ModelInfo
from storyterm.core.generation.events import Failed, Finished, Saved, TextDelta
from storyterm.core.generation.run import Run
from storyterm.core.generation.starts import Starts
from storyterm.core.memory import prompt as m
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from storyterm.errors import (
    Conflict,
    DatabaseUnavailable,
    GenerationStopped,
    InvalidTransition,
    ModelMissing,
    ModelUnavailable,
    OllamaUnreachable,
)
from tests.story_helpers import (
    BIBLE,
    StoryKit,
    StubCatalog,
    append_prose_parts,
    consume_until,
    make_kit,
    summarising_reply,
    text_of,
    wait_for,
)


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(
        models=["gemma3:latest", FakeModel("tiny:latest", context_length=2048)]
    ) as fake:
        yield fake


@pytest.fixture
def kit(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake_ollama)
    yield story_kit
    story_kit.close()


def deltas(events: list) -> int:
    return sum(isinstance(e, TextDelta) for e in events)


async def test_a_part_streams_is_saved_and_reports_its_numbers(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    fake_ollama.tokens, fake_ollama.rate = 60, 300
    session = kit.new_session()
    events = await kit.run(session.id, "Mara finds the letter")
    finished = events[-1]
    assert isinstance(finished, Finished) and not finished.interrupted
    assert deltas(events) == 60
    assert any(isinstance(e, Saved) for e in events)  # checkpointed while streaming
    part = finished.part
    assert part.state is PartState.DONE and part.seq == 1
    assert part.content == text_of(events) == fake_ollama.chat_requests[-1].text_sent
    assert part.direction == "Mara finds the letter" and part.model_name == "gemma3:latest"
    assert finished.completion_tokens == 60 and part.completion_tokens == 60
    assert finished.prompt_tokens == fake_ollama.chat_requests[-1].prompt_tokens
    assert 150 < finished.tokens_per_second < 600
    body = fake_ollama.chat_requests[-1].body
    assert body["options"]["num_ctx"] == 8192  # min(32768 trained, max_num_ctx 8192)
    assert body["options"]["num_predict"] == m.Budget.for_num_ctx(8192).reply_tokens
    # The context viewer shows exactly what was sent.
    sent = [(x["role"], x["content"]) for x in body["messages"]]
    assert kit.storyteller.last_prompt(kit.user_id, session.id) == sent
    assert sent[-1] == ("user", "Mara finds the letter")
    memory = finished.session.memory
    assert memory["num_ctx"] == 8192 and memory["last_prompt_eval_count"] > 0
    assert memory["token_ratio"] > 0


async def test_the_story_so_far_is_in_the_next_prompt(kit: StoryKit, fake_ollama) -> None:
    session = kit.new_session()
    first = (await kit.run(session.id, "Mara finds the letter"))[-1].part
    await kit.run(session.id, "She reads it aloud")
    messages = fake_ollama.chat_requests[-1].messages
    assert [x["role"] for x in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "Mara finds the letter"
    assert messages[2]["content"] == first.content
    assert messages[3]["content"] == "She reads it aloud"
    for field in BIBLE.values():
        assert field in messages[0]["content"]


async def test_paused_and_completed_stories_cannot_generate(kit: StoryKit, fake_ollama) -> None:
    session = kit.new_session()
    kit.sessions.pause(kit.user_id, session.id)
    [failed] = await kit.run(session.id)
    assert isinstance(failed, Failed) and isinstance(failed.error, InvalidTransition)
    assert "is paused. Resume it first" in failed.error.message
    kit.sessions.complete(kit.user_id, session.id)
    [failed] = await kit.run(session.id)
    assert "completed and read-only" in failed.error.message
    assert fake_ollama.chat_requests == []


async def test_cancel_stops_promptly_and_keeps_the_text(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.tokens, fake_ollama.rate = 2000, 200
    session = kit.new_session()
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, session.id, "", cancel=cancel)
    seen = await consume_until(stream, lambda s: deltas(s) >= 30)
    cancel.set()
    started = time.monotonic()
    rest = [event async for event in stream]
    assert time.monotonic() - started < 0.5
    finished = rest[-1]
    assert isinstance(finished, Finished) and finished.interrupted
    text = text_of(seen + rest)
    assert finished.part.content == text and len(text.split()) >= 30
    stored = kit.sessions.open(kit.user_id, session.id).parts[-1]
    assert stored.state is PartState.INTERRUPTED and stored.content == text
    await wait_for(lambda: fake_ollama.chat_requests[-1].disconnected)  # Ollama stops too


async def test_cancelling_the_consumer_task_keeps_the_text(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.tokens, fake_ollama.rate = 2000, 200
    session = kit.new_session()
    seen: list = []

    async def consume() -> None:
        async for event in kit.storyteller.generate(kit.user_id, session.id, "Go on"):
            seen.append(event)

    task = asyncio.create_task(consume())
    await wait_for(lambda: deltas(seen) >= 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stored = kit.sessions.open(kit.user_id, session.id).parts[-1]
    assert stored.state is PartState.INTERRUPTED
    assert stored.content == text_of(seen)


async def test_pausing_elsewhere_stops_the_generation(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.tokens, fake_ollama.rate = 2000, 200
    session = kit.new_session()
    stream = kit.storyteller.generate(kit.user_id, session.id, "")
    seen = await consume_until(stream, lambda s: deltas(s) >= 10)
    kit.sessions.pause(kit.user_id, session.id)  # another window
    paused_at = time.monotonic()
    rest = [event async for event in stream]
    assert time.monotonic() - paused_at < 1.0
    finished = rest[-1]
    assert isinstance(finished, Finished) and finished.interrupted
    assert finished.session.status is SessionStatus.PAUSED
    assert finished.part.content == text_of(seen + rest)


async def test_ollama_down_says_so_and_adds_nothing(tmp_path: Path) -> None:
    down = make_kit(tmp_path, None)
    try:
        session = down.new_session()
        [failed] = await down.run(session.id)
        assert isinstance(failed.error, ModelUnavailable) and failed.part is None
        assert "Ollama is not running at http://127.0.0.1:9" in failed.error.message
        assert down.sessions.get(down.user_id, session.id).part_count == 0
    finally:
        down.close()


async def test_a_paused_story_says_so_even_with_ollama_down(tmp_path: Path) -> None:
    # Ollama's models are listed while the story is read: the story's own state still answers
    # first.
    class Down(StubCatalog):
        async def list_models(self) -> list[ModelInfo]:
            raise OllamaUnreachable("Ollama is not running.")  # at once, before the story

    down = make_kit(tmp_path, None)
    down.storyteller.catalog = Down(down.settings, [])
    try:
        session = down.new_session()
        down.sessions.pause(down.user_id, session.id)
        [failed] = await down.run(session.id)
        assert isinstance(failed.error, InvalidTransition)
        assert "is paused. Resume it first" in failed.error.message
    finally:
        down.close()


async def test_a_refused_stream_removes_the_empty_claim(tmp_path: Path) -> None:
    # The listing says the model exists, then nothing answers the chat: httpx.ConnectError.
    down = make_kit(tmp_path, None)
    down.storyteller.catalog = StubCatalog(down.settings, ["gemma3:latest"])
    try:
        session = down.new_session()
        events = await down.run(session.id)
        failed = events[-1]
        assert isinstance(failed, Failed) and "not running" in failed.error.message
        assert "Nothing was added" in failed.error.message
        assert down.sessions.get(down.user_id, session.id).part_count == 0
    finally:
        down.close()


async def test_a_missing_model_names_the_fallback(kit: StoryKit, fake_ollama) -> None:
    session = kit.new_session(model="llama3:8b")
    [failed] = await kit.run(session.id)
    assert isinstance(failed.error, ModelMissing)
    assert failed.error.fallback == "gemma3:latest"
    assert "llama3:8b is no longer installed" in failed.error.message
    assert fake_ollama.chat_requests == []
    # Ollama answering 404 to the chat itself (the model vanished a moment ago).
    kit.storyteller.catalog = StubCatalog(kit.settings, ["llama3:8b"])
    events = await kit.run(session.id)
    assert isinstance(events[-1].error, ModelMissing)
    assert "ollama pull llama3:8b" in events[-1].error.message
    assert kit.sessions.get(kit.user_id, session.id).part_count == 0


async def test_parts_started_together_ask_ollama_for_its_models_once(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    # A server starting many parts at once (a team pressing Enter) asks once, not once a part.
    fake_ollama.tokens = 5
    stories = [kit.new_session(f"Story {n}") for n in range(6)]
    runs = await asyncio.gather(*(kit.run(story.id) for story in stories))
    assert all(isinstance(events[-1], Finished) for events in runs)
    assert [
        story.part_count
        for story in map(kit.sessions.get, [kit.user_id] * 6, [s.id for s in stories])
    ] == [1] * 6
    assert sum(1 for r in fake_ollama.requests if r.path == "/api/tags") == 1


async def test_parts_started_together_take_turns_from_claim_to_prompt(
    kit: StoryKit, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A team pressing Enter at once: each part's start (its claim, the story read, the prompt
    # planned and saved) runs whole before the next begins, so the first part starts after
    # one start's time, not after all of them.
    fake_ollama.tokens = 5
    steps: list[tuple[str, str]] = []
    claim, save_prompt = Run.claim, Run.save_prompt

    async def claiming(run: Run) -> None:
        steps.append(("claim", run.session_id))
        await claim(run)

    async def saving(run: Run, plan: Any) -> None:
        await save_prompt(run, plan)
        steps.append(("saved", run.session_id))

    monkeypatch.setattr(Run, "claim", claiming)
    monkeypatch.setattr(Run, "save_prompt", saving)
    stories = [kit.new_session(f"Story {n}") for n in range(4)]
    runs = await asyncio.gather(*(kit.run(story.id) for story in stories))
    assert all(isinstance(events[-1], Finished) for events in runs)
    assert [step for step, _story in steps] == ["claim", "saved"] * 4
    assert all(steps[n][1] == steps[n + 1][1] for n in range(0, 8, 2))


async def test_a_start_that_fails_or_is_cancelled_gives_its_turn_back(
    kit: StoryKit, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were a turn kept, every later part would wait out the whole patience.
    kit.storyteller.starts = Starts(patience=3600)
    fake_ollama.tokens = 5
    broken, stuck, fine = (kit.new_session(title) for title in ("Broken", "Stuck", "Fine"))
    claim = Run.claim
    claiming = asyncio.Event()

    async def claim_or_fail(run: Run) -> None:
        if run.session_id == broken.id:
            raise DatabaseUnavailable("The database went away for a moment.")
        if run.session_id == stuck.id:
            claiming.set()
            await asyncio.sleep(3600)
        await claim(run)

    monkeypatch.setattr(Run, "claim", claim_or_fail)
    [failed] = await kit.run(broken.id)
    assert isinstance(failed, Failed) and isinstance(failed.error, DatabaseUnavailable)
    waiting = asyncio.create_task(kit.run(stuck.id))
    await asyncio.wait_for(claiming.wait(), 30)
    waiting.cancel()  # the writer went away while the part was being claimed
    with pytest.raises(asyncio.CancelledError):
        await waiting
    finished = (await asyncio.wait_for(kit.run(fine.id), 30))[-1]
    assert isinstance(finished, Finished) and finished.part.seq == 1


async def test_a_start_holding_its_turn_too_long_does_not_hold_the_others(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    kit.storyteller.starts = Starts(patience=0.05)
    fake_ollama.tokens = 5
    slow = await kit.storyteller.starts.turn()  # a start stuck on a slow database
    assert slow.held
    finished = (await asyncio.wait_for(kit.run(kit.new_session().id), 30))[-1]
    assert isinstance(finished, Finished)
    slow.done()


async def test_a_model_pulled_a_moment_ago_is_found(kit: StoryKit, fake_ollama: FakeOllama) -> None:
    fake_ollama.tokens = 5
    first = kit.new_session()
    assert isinstance((await kit.run(first.id))[-1], Finished)  # the listing is now remembered
    later = kit.new_session("Pulled", model="llama3:8b")
    fake_ollama.models.append(FakeModel("llama3:8b"))  # `ollama pull llama3:8b` meanwhile
    finished = (await kit.run(later.id))[-1]
    assert isinstance(finished, Finished) and finished.part.model_name == "llama3:8b"


async def test_an_error_line_mid_stream_keeps_what_was_written(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.tokens, fake_ollama.error_after = 100, 12
    fake_ollama.error_message = "model runner has unexpectedly stopped"
    session = kit.new_session()
    events = await kit.run(session.id)
    failed = events[-1]
    assert isinstance(failed, Failed) and isinstance(failed.error, ModelUnavailable)
    assert "model runner has unexpectedly stopped" in failed.error.message
    assert "kept in part 1 (marked interrupted)" in failed.error.message
    assert failed.part.state is PartState.INTERRUPTED
    assert failed.part.content == text_of(events) and deltas(events) == 12


async def test_ollama_dying_mid_stream_keeps_what_was_written(tmp_path: Path) -> None:
    fake = FakeOllama(tokens=2000, rate=200).start()
    kit = make_kit(tmp_path, fake)
    try:
        session = kit.new_session()
        stream = kit.storyteller.generate(kit.user_id, session.id, "")
        seen = await consume_until(stream, lambda s: deltas(s) >= 10)
        threading.Thread(target=fake.close).start()
        rest = [event async for event in stream]
        failed = rest[-1]
        assert isinstance(failed, Failed)
        assert "broke off" in failed.error.message or "not running" in failed.error.message
        assert failed.part.content == text_of(seen + rest)
        assert failed.part.state is PartState.INTERRUPTED
    finally:
        kit.close()
        fake.close()


async def test_a_hung_stream_times_out_with_its_text_kept(tmp_path: Path) -> None:
    with FakeOllama(tokens=100, hang_after=8) as fake:
        kit = make_kit(tmp_path, fake, ollama_timeout=0.5, checkpoint_interval=0.1)
        try:
            session = kit.new_session()
            started = time.monotonic()
            events = await kit.run(session.id)
            assert time.monotonic() - started < 3
            failed = events[-1]
            assert isinstance(failed, Failed)
            assert "gemma3:latest sent nothing for 0.5 seconds" in failed.error.message
            assert "STORYTERM_OLLAMA_TIMEOUT" in failed.error.message
            assert failed.part.state is PartState.INTERRUPTED
            assert failed.part.content == text_of(events) and deltas(events) == 8
        finally:
            kit.close()


async def test_the_second_of_two_racing_generations_gets_conflict_first(
    kit: StoryKit, fake_ollama
) -> None:
    fake_ollama.tokens = 30
    session = kit.new_session()
    one, two = await asyncio.gather(kit.run(session.id, "one"), kit.run(session.id, "two"))
    ends = [one[-1], two[-1]]
    assert sum(isinstance(e, Finished) for e in ends) == 1
    [lost] = [e for e in ends if isinstance(e, Failed)]
    assert isinstance(lost.error, Conflict) and lost.part is None
    assert len(fake_ollama.chat_requests) == 1  # the loser spent no model time
    assert kit.sessions.get(kit.user_id, session.id).part_count == 1


async def test_a_part_being_written_blocks_a_second_generation(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.tokens, fake_ollama.rate = 2000, 200
    session = kit.new_session()
    cancel = asyncio.Event()
    stream = kit.storyteller.generate(kit.user_id, session.id, "", cancel=cancel)
    await consume_until(stream, lambda s: deltas(s) >= 5)
    [failed] = await kit.run(session.id)
    assert isinstance(failed.error, Conflict) and "being written right now" in failed.error.message
    cancel.set()
    [event async for event in stream]


async def test_regenerate_replaces_the_last_part(kit: StoryKit, fake_ollama) -> None:
    session = kit.new_session()
    await kit.run(session.id, "Mara finds the letter")
    fake_ollama.reply = "A different telling of the scene."
    events = await kit.run(session.id, regenerate=True)
    part = events[-1].part
    assert part.seq == 1 and part.content == "A different telling of the scene."
    assert part.direction == "Mara finds the letter"
    assert fake_ollama.chat_requests[-1].messages[-1]["content"] == "Mara finds the letter"
    events = await kit.run(session.id, "Mara burns the letter", regenerate=True)
    assert events[-1].part.direction == "Mara burns the letter"
    assert kit.sessions.get(kit.user_id, session.id).part_count == 1


async def test_a_failed_regenerate_leaves_the_old_part_as_it_was(
    kit: StoryKit, fake_ollama
) -> None:
    session = kit.new_session()
    original = (await kit.run(session.id, "Mara finds the letter"))[-1].part
    fake_ollama.error_after = 0
    events = await kit.run(session.id, "Something else", regenerate=True)
    assert isinstance(events[-1], Failed) and "Part 1 is as it was" in events[-1].error.message
    [kept] = kit.sessions.all_parts(kit.user_id, session.id)
    assert (kept.content, kept.direction, kept.state) == (
        original.content,
        original.direction,
        PartState.DONE,
    )
    # Writing again with no part is a move the story cannot take yet (409), not bad input.
    [nothing] = await kit.run(kit.new_session("Empty").id, regenerate=True)
    assert isinstance(nothing.error, InvalidTransition)
    assert "no part to write again" in nothing.error.message


async def test_a_regenerate_whose_claim_fails_leaves_the_part_as_it_was(
    kit: StoryKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = kit.new_session()
    original = (await kit.run(session.id, "Mara finds the letter"))[-1].part

    def refuse(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailable("The database went away for a moment.")

    monkeypatch.setattr(kit.sessions.history, "regenerate_take", refuse)
    [failed] = await kit.run(session.id, "Something else", regenerate=True)
    assert isinstance(failed, Failed) and isinstance(failed.error, DatabaseUnavailable)
    [kept] = kit.sessions.all_parts(kit.user_id, session.id)
    assert (kept.seq, kept.content, kept.direction, kept.state, kept.takes) == (
        original.seq,
        original.content,
        original.direction,
        PartState.DONE,
        1,
    )


async def test_a_regenerate_keeps_the_old_take_and_the_chosen_take_is_what_the_model_reads(
    kit: StoryKit, fake_ollama
) -> None:
    session = kit.new_session()
    first = (await kit.run(session.id, "Mara finds the letter"))[-1].part
    second = (await kit.run(session.id, "She reads it", regenerate=True))[-1].part
    assert (second.seq, second.take, second.takes) == (1, 2, 2)
    takes = kit.sessions.history.takes(kit.user_id, session.id, 1)
    assert [t.content for t in takes] == [first.content, second.content]
    assert [t.chosen for t in takes] == [False, True]
    # Flip back to the first take: the next part is written from it.
    kit.sessions.history.choose(kit.user_id, session.id, 1, 1)
    await kit.run(session.id, "Next")
    sent = "\n".join(
        str(m.get("content", "")) for m in fake_ollama.chat_requests[-1].body["messages"]
    )
    assert first.content.strip()[:40] in sent
    if second.content.strip()[:40] != first.content.strip()[:40]:
        assert second.content.strip()[:40] not in sent


async def test_a_regenerate_stopped_before_any_word_brings_the_old_take_back(
    kit: StoryKit, fake_ollama
) -> None:
    session = kit.new_session()
    first = (await kit.run(session.id, "Mara finds the letter"))[-1].part
    fake_ollama.load_delay = 2.0
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)
    events = await kit.run(session.id, regenerate=True, cancel=cancel)
    assert isinstance(events[-1], Failed)
    [kept] = kit.sessions.all_parts(kit.user_id, session.id)
    assert (kept.content, kept.take, kept.takes) == (first.content, 1, 1)
    with pytest.raises(InvalidTransition, match="nothing to undo"):
        kit.sessions.history.undo(kit.user_id, session.id)


async def test_cancel_before_any_text_adds_nothing(kit: StoryKit, fake_ollama) -> None:
    fake_ollama.load_delay = 2.0  # the model is still loading
    session = kit.new_session()
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, cancel.set)
    events = await kit.run(session.id, cancel=cancel)
    assert isinstance(events[-1].error, GenerationStopped)
    assert "Nothing was added" in events[-1].error.message
    assert kit.sessions.get(kit.user_id, session.id).part_count == 0


async def test_num_ctx_stays_fixed_for_a_story(tmp_path: Path) -> None:
    with FakeOllama(models=[FakeModel("gemma3:latest", context_length=16384)], tokens=5) as fake:
        first = make_kit(tmp_path, fake, max_num_ctx=4096)
        session = first.new_session()
        await first.run(session.id)
        first.close()
        # A larger cap later does not reload the model for this story...
        later = make_kit(tmp_path, fake, max_num_ctx=16384)
        await later.run(session.id)
        assert [r.options["num_ctx"] for r in fake.chat_requests] == [4096, 4096]
        # ...but a new story gets the new window.
        await later.run(later.new_session("Another").id)
        assert fake.chat_requests[-1].options["num_ctx"] == 16384
        later.close()


async def test_a_300_part_story_always_fits_and_carries_bible_and_summary(
    tmp_path: Path,
) -> None:
    summaries: list[str] = []

    model = FakeModel("gemma3:latest", context_length=2048)
    with FakeOllama(
        models=[model], reply=summarising_reply(summaries), chars_per_token=3.6
    ) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            session = kit.new_session()
            append_prose_parts(kit, session.id, 300)
            reads: list[int] = []
            original = kit.sessions.parts_before

            def counting(*args, **kwargs):
                parts = original(*args, **kwargs)
                reads.append(len(parts))
                return parts

            kit.sessions.parts_before = counting  # type: ignore[method-assign]
            for direction in ("Mara opens the door", "", "The ferryman confesses"):
                reads.clear()
                events = await kit.run(session.id, direction)
                assert isinstance(events[-1], Finished), events[-1]
            # The last generations only read the tail, never the 300 parts.
            assert sum(reads) < 60

            latest_summary = None
            for request in fake.chat_requests:
                num_ctx = request.options["num_ctx"]
                assert num_ctx == 2048
                assert request.prompt_tokens + request.options["num_predict"] <= num_ctx
                assert not request.overflowed
                text = request.prompt_text
                assert "Title: The Keeper's Letter" in text and BIBLE["premise"] in text
                if latest_summary:
                    assert latest_summary in text  # the current summary, in every prompt
                sent = request.text_sent
                if sent.startswith("SUMMARY-"):
                    latest_summary = sent
            memory = kit.sessions.get(kit.user_id, session.id).memory
            assert memory["summary"] == latest_summary
            assert memory["summary_through_seq"] < 303
            tail = fake.chat_requests[-1].messages
            assert tail[1]["content"] == f"Step {memory['summary_through_seq'] + 1}"
        finally:
            kit.close()


async def test_tokens_per_second_through_chatollama(kit: StoryKit, fake_ollama) -> None:
    """A number for the report: how fast the whole path (ChatOllama, events, checkpoints) goes
    when the server is not the limit."""
    fake_ollama.tokens, fake_ollama.rate = 2000, None
    session = kit.new_session()
    started = time.perf_counter()
    events = await kit.run(session.id)
    elapsed = time.perf_counter() - started
    assert deltas(events) == 2000
    print(f"\n2000 tokens end to end in {elapsed:.2f}s = {2000 / elapsed:,.0f} tokens/s")
