"""Story memory: prompts built from the stored story, fitted to the window, folded into a
rolling summary. Unit tests use LangChain's fake chat models (no Ollama)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import Field

from storyterm.core.generation.events import Finished, Progress
from storyterm.core.memory import prompt as m
from storyterm.core.views import Part
from storyterm.devtools.fake_ollama import prose
from tests.story_helpers import StoryKit, StubCatalog, make_kit, text_of


class RecordingChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that keeps the messages of every call."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.seen.append(list(messages))
        yield from super()._stream(messages, *args, **kwargs)


class FakeModels:
    """A chat_model_factory handing out fake models: summaries and parts, recorded."""

    def __init__(self) -> None:
        self.summaries = 0
        self.calls: list[tuple[str, int, int, RecordingChatModel]] = []

    def __call__(
        self, model: str, num_ctx: int, num_predict: int, purpose: str, sampling: Any
    ) -> Any:
        if purpose == "summary":
            self.summaries += 1
            reply = f"SUMMARY {self.summaries}: Mara kept the letter and the ferryman lied."
        else:
            reply = "The keeper climbed the stair and read the letter aloud."
        llm = RecordingChatModel(messages=iter([AIMessage(reply)]))
        self.calls.append((purpose, num_ctx, num_predict, llm))
        return llm


@pytest.fixture
def offline_kit(tmp_path: Path) -> Iterator[tuple[StoryKit, FakeModels]]:
    models = FakeModels()
    kit = make_kit(tmp_path, None, chat_model_factory=models)
    kit.storyteller.catalog = StubCatalog(kit.settings, ["gemma3:latest"], context_length=2048)
    yield kit, models
    kit.close()


def add_parts(kit: StoryKit, session_id: str, count: int, words: int = 60) -> None:
    for n in range(1, count + 1):
        kit.sessions.append_part(
            kit.user_id, session_id, direction=f"Step {n}", content=prose(words, seed=n)
        )


class CountingReader:
    def __init__(self, kit: StoryKit, session_id: str) -> None:
        self.kit, self.session_id, self.parts_read, self.calls = kit, session_id, 0, 0

    def __call__(self, before: int, limit: int) -> list[Part]:
        parts = self.kit.sessions.parts_before(self.kit.user_id, self.session_id, before, limit)
        self.calls += 1
        self.parts_read += len(parts)
        return parts


def test_system_message_holds_instructions_bible_and_summary(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session()
    state = m.MemoryState(summary="Mara found the letter.", summary_through_seq=4)
    system, cut = m.system_message(session, state, 5000, m.TokenEstimator())
    text = system.content
    assert not cut
    for expected in (
        "novelist",
        "Title: The Keeper's Letter",
        "Genre: gothic mystery",
        "Tone: quiet, salt-stung dread",
        "Premise: A lighthouse keeper",
        "Characters: Mara, the keeper",
        "Style notes: close third person",
        "summary of parts 1–4",
        "Mara found the letter.",
    ):
        assert expected in text


def test_a_long_story_is_fitted_from_its_end_reading_only_what_it_needs(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 200)
    session = kit.sessions.get(kit.user_id, session.id)
    budget = m.Budget.for_num_ctx(2048)
    estimator = m.TokenEstimator()
    reader = CountingReader(kit, session.id)
    plan = m.plan_prompt(
        session, m.MemoryState(), "Mara opens the door", 201, budget, estimator, reader
    )
    assert plan.estimated <= budget.prompt
    assert plan.last_seq == 200 and plan.first_seq is not None and plan.first_seq > 150
    verbatim = plan.last_seq - plan.first_seq + 1
    assert reader.parts_read <= verbatim + m.PAGE  # never the whole story
    messages = plan.messages
    assert isinstance(messages[0], SystemMessage)
    assert messages[-1] == HumanMessage("Mara opens the door")
    body = messages[1:-1]
    assert [type(x) for x in body] == [HumanMessage, AIMessage] * verbatim
    assert body[0].content == f"Step {plan.first_seq}"
    # Older parts must be folded, never the newest one; hysteresis folds more than the minimum.
    assert plan.fold_through is not None
    assert plan.first_seq - 1 <= plan.fold_through < 200


def test_a_short_story_needs_no_summary(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 3)
    plan = m.plan_prompt(
        kit.sessions.get(kit.user_id, session.id),
        m.MemoryState(),
        "",
        4,
        m.Budget.for_num_ctx(8192),
        m.TokenEstimator(),
        CountingReader(kit, session.id),
    )
    assert plan.fold_through is None and (plan.first_seq, plan.last_seq) == (1, 3)
    assert plan.messages[-1].content == m.CONTINUE


def test_a_huge_part_is_sent_by_its_end_and_a_huge_bible_is_clipped(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session(premise="The sea remembers. " * 1000)
    kit.sessions.append_part(kit.user_id, session.id, direction="", content=prose(6000))
    session = kit.sessions.get(kit.user_id, session.id)
    budget = m.Budget.for_num_ctx(2048)
    plan = m.plan_prompt(
        session,
        m.MemoryState(),
        "",
        2,
        budget,
        m.TokenEstimator(),
        CountingReader(kit, session.id),
    )
    assert plan.estimated <= budget.prompt
    assert plan.system_cut and "Title: The Keeper's Letter" in plan.messages[0].content
    assert plan.cut and plan.messages[2].content.startswith("…")
    assert prose(6000).endswith(plan.messages[2].content[1:])
    assert plan.fold_through is None  # nothing older to fold


def test_calibration_rises_at_once_and_falls_slowly() -> None:
    assert m.calibrate(None, 1000, 1200) == 1.2
    assert m.calibrate(1.2, 1000, 1500) == 1.5
    assert 1.3 < m.calibrate(1.5, 1000, 900) < 1.5
    assert m.calibrate(1.2, 1000, None) == 1.2  # Ollama did not say
    assert m.calibrate(1.2, 1000, 5) == 1.2  # a cached prefix, not a tokenizer
    estimator = m.TokenEstimator(1.2)
    assert estimator([HumanMessage("x" * 400)]) > m.TokenEstimator.raw([HumanMessage("x" * 400)])


async def test_summary_chain_with_a_fake_model(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 6)
    state = m.MemoryState(summary="Earlier: the storm.", summary_through_seq=2)
    budget = m.Budget.for_num_ctx(2048)
    estimator = m.TokenEstimator()
    chunk = m.next_fold_chunk(
        kit.sessions.get(kit.user_id, session.id),
        state,
        5,
        budget,
        estimator,
        CountingReader(kit, session.id),
    )
    assert (chunk.first_seq, chunk.last_seq) == (3, 5)
    prompt = m.summary_prompt().format_messages(**chunk.inputs)
    assert estimator(prompt) + budget.summary_tokens <= budget.num_ctx
    human = prompt[1].content
    assert "Title: The Keeper's Letter" in human and "Earlier: the storm." in human
    assert "## Part 3" in human and "## Part 5" in human and "## Part 6" not in human
    llm = GenericFakeChatModel(messages=iter(["Mara kept the letter; Tobias lied."]))
    assert await m.summary_chain(llm).ainvoke(chunk.inputs) == "Mara kept the letter; Tobias lied."


async def test_generation_folds_old_parts_and_sends_the_summary(offline_kit) -> None:
    kit, models = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 40)
    events = await kit.run(session.id, "Mara opens the door")
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    assert text_of(events) == "The keeper climbed the stair and read the letter aloud."
    assert any(isinstance(e, Progress) and "Summarising parts 1–" in e.message for e in events)
    memory = m.MemoryState.from_memory(finished.session.memory)
    assert memory.summary.startswith(f"SUMMARY {models.summaries}:")
    assert 0 < memory.summary_through_seq < 40
    part_calls = [c for c in models.calls if c[0] == "part"]
    assert len(part_calls) == 1
    _purpose, num_ctx, num_predict, llm = part_calls[0]
    assert num_ctx == 2048 and num_predict == m.Budget.for_num_ctx(2048).reply_tokens
    sent = llm.seen[0]
    assert memory.summary in sent[0].content
    assert sent[1].content == f"Step {memory.summary_through_seq + 1}"  # no gap after the summary
    assert m.TokenEstimator(None)(sent) <= m.Budget.for_num_ctx(2048).prompt
    # The exact messages are retrievable, also by a fresh storyteller (after a restart).
    shown = kit.storyteller.last_prompt(kit.user_id, session.id)
    assert shown == m.as_pairs(sent)
    from storyterm.core.generation.storyteller import Storyteller

    fresh = Storyteller(kit.sessions, kit.settings)
    try:
        assert fresh.last_prompt(kit.user_id, session.id) == shown
    finally:
        fresh.close()


def test_editing_a_summarised_part_marks_the_summary_stale(offline_kit) -> None:
    kit, _ = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 8)
    kit.sessions.update_memory(
        kit.user_id, session.id, {"summary": "So far.", "summary_through_seq": 5}
    )
    kit.sessions.edit_part(kit.user_id, session.id, 7, content="A newer edit.")
    assert not kit.sessions.get(kit.user_id, session.id).memory.get("stale")
    kit.sessions.edit_part(kit.user_id, session.id, 3, content="Mara never found it.")
    memory = kit.sessions.get(kit.user_id, session.id).memory
    assert memory["stale"] is True and memory["summary"] == "So far."
    # The writer's own summary clears it.
    updated = kit.storyteller.set_summary(kit.user_id, session.id, "Mara never found the letter.")
    assert updated.memory["stale"] is False
    assert updated.memory["summary"] == "Mara never found the letter."


# -- memory of the wrong shape --------------------------------------------------------------

#: Values of session.memory no storyteller wrote: each must read exactly as if it were absent.
BAD_MEMORY = [
    (m.TOKENS, 5),
    (m.TOKENS, ["budget", 1]),
    (m.TOKENS, {"budget": "many", "tail": -1, "x": True, "y": 1.5, "z": 10**30}),
    (m.TOKEN_RATIO, float("inf")),
    (m.TOKEN_RATIO, float("nan")),
    (m.TOKEN_RATIO, 0),
    (m.TOKEN_RATIO, -1.2),
    (m.TOKEN_RATIO, 1e300),
    (m.TOKEN_RATIO, "1.2"),
    (m.TOKEN_RATIO, True),
    (m.NUM_CTX, 1),
    (m.NUM_CTX, 0),
    (m.NUM_CTX, -4096),
    (m.NUM_CTX, 10**30),
    (m.NUM_CTX, 4096.0),
    (m.NUM_CTX, "4096"),
    (m.NUM_CTX, True),
    (m.NUM_CTX_MODEL, 7),
    (m.NUM_CTX_MODEL, "x" * 300),
    (m.SUMMARY, {"text": "nested"}),
    (m.SUMMARY, ["a", "b"]),
    (m.SUMMARY, 42),
    (m.SUMMARY_THROUGH, float("inf")),
    (m.SUMMARY_THROUGH, -3),
    (m.SUMMARY_THROUGH, 2**63),
    (m.SUMMARY_THROUGH, "5"),
    (m.SUMMARY_THROUGH, True),
    (m.STALE, "no"),
    (m.STALE, 1),
    (m.LAST_ESTIMATE, -1),
    (m.LAST_ESTIMATE, 10**30),
    (m.LAST_EVAL_COUNT, "12"),
    (m.LAST_PROMPT, "the prompt"),
    (m.LAST_PROMPT, [1, 2]),
    (m.LAST_PROMPT, {"system": 5}),
    (m.LAST_PROMPT, {"first_seq": "1", "last_seq": 2}),
    (m.LAST_PROMPT, {"first_seq": 0}),
    (m.LAST_PROMPT, {"cut": {"x": 5}}),
    (m.LAST_PROMPT, {"cut": {"²": 5}}),
    (m.LAST_PROMPT, {"cut": {"3": -1}}),
    (m.LAST_PROMPT, {"cut": [1]}),
    (m.LAST_PROMPT, {"a": {"b": {"c": [[[[[]]]]]}}}),
]


@pytest.mark.parametrize(
    ("key", "value"), BAD_MEMORY, ids=[f"{k}={v!r}"[:60] for k, v in BAD_MEMORY]
)
def test_memory_of_the_wrong_shape_reads_as_absent(key: str, value: Any) -> None:
    from storyterm.core.memory.state import well_formed

    if key == m.LAST_PROMPT and isinstance(value, dict) and "a" in value:
        # Unknown pieces of a record are dropped, the rest of it kept.
        assert m.MemoryState.from_memory({key: value}).last_prompt == {
            "first_seq": None,
            "last_seq": None,
            "cut": {},
        }
        return
    assert m.MemoryState.from_memory({key: value}) == m.MemoryState.from_memory({})
    assert well_formed({key: value, "unknown": {"deep": [1, 2]}}) == {}
    if key == m.TOKENS and isinstance(value, dict):
        return
    # Beside good values, a bad one costs only itself.
    good = {m.SUMMARY: "So far.", m.SUMMARY_THROUGH: 3, m.NUM_CTX: 4096, m.TOKEN_RATIO: 1.1}
    state = m.MemoryState.from_memory({**good, key: value})
    expected = m.MemoryState.from_memory({k: v for k, v in good.items() if k != key})
    assert state == expected


@pytest.mark.parametrize("memory", [None, [], "memory", 5, {"x": 1}])
def test_memory_that_is_not_an_object_reads_as_empty(memory: Any) -> None:
    assert m.MemoryState.from_memory(memory) == m.MemoryState()


async def test_a_story_with_garbage_memory_still_continues(offline_kit) -> None:
    kit, _models = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 3)
    garbage = {key: value for key, value in BAD_MEMORY if key != m.TOKEN_RATIO}
    garbage[m.TOKEN_RATIO] = 1e300
    kit.sessions.update_memory(kit.user_id, session.id, garbage)
    events = await kit.run(session.id, "Mara opens the door")
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    assert finished.part.seq == 4
    assert finished.part.content == "The keeper climbed the stair and read the letter aloud."
    assert kit.storyteller.last_prompt(kit.user_id, session.id)


async def test_memory_a_generation_writes_is_well_formed(offline_kit) -> None:
    from storyterm.core.memory.state import well_formed

    kit, _models = offline_kit
    session = kit.new_session()
    add_parts(kit, session.id, 40)
    events = await kit.run(session.id, "Mara opens the door")
    memory = events[-1].session.memory
    assert memory[m.SUMMARY] and memory[m.LAST_PROMPT]
    # An export of a real story loses nothing of its memory on import.
    assert well_formed(memory) == {k: v for k, v in memory.items() if v is not None}
