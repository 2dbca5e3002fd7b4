"""Models that think before they write: the story's thinking setting reaches Ollama's request
as `think`, the thinking never enters the part (a `thinking` field or `<think>` tags in the
text, tags split across chunks included), a long think does not look like a hung model, and the
last part's thinking is kept for the context viewer. Through the Ollama stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.generation.events import Finished, Progress, TextDelta, Thinking
from storyterm.core.generation.thinking import (
    ThinkingTraits,
    ThinkSplitter,
    strip_thinking,
    think_refusal,
    think_request,
)
from storyterm.core.memory.state import MemoryState, well_formed
from storyterm.core.sampling import Sampling, clean_changes
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from storyterm.errors import InvalidInput
from tests.story_helpers import StoryKit, make_kit

THINKER = "qwen3:4b"


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    models = [FakeModel("gemma3:latest"), FakeModel(THINKER, thinks=True)]
    with FakeOllama(models=models, tokens=30, think_tokens=25) as server:
        yield server


@pytest.fixture
def kit(tmp_path: Path, fake: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake)
    yield story_kit
    story_kit.close()


def _part_request(fake: FakeOllama) -> Any:
    return [r for r in fake.chat_requests if "think" in r.body or r.messages][-1]


def _streamed(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def _thinking_words(fake: FakeOllama) -> list[str]:
    """Words only the thinking has (the stand-in's musing starts "Let me think.")."""
    return ["Let me think", "<think", "think>", "</"]


async def _write(kit: StoryKit, think: str | None, model: str = THINKER) -> list[Any]:
    story = kit.new_session(model=model)
    if think is not None:
        kit.sessions.set_options(kit.user_id, story.id, {"think": think})
    return await kit.run(story.id, "Mara reads the letter")


# -- what Ollama is sent ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("think", "sent"), [(None, False), ("off", False), ("on", True), ("ON", True)]
)
async def test_the_thinking_setting_reaches_ollama_as_think(
    kit: StoryKit, fake: FakeOllama, think: str | None, sent: Any
) -> None:
    events = await _write(kit, think)
    assert isinstance(events[-1], Finished), events[-1]
    assert fake.chat_requests[-1].body["think"] is sent


async def test_a_model_that_cannot_think_is_sent_no_think_and_the_writer_is_told(
    kit: StoryKit, fake: FakeOllama
) -> None:
    story = kit.new_session(model=THINKER)
    kit.sessions.set_options(kit.user_id, story.id, {"think": "on"})
    kit.sessions.set_model(kit.user_id, story.id, "gemma3:latest")  # switched models since
    events = await kit.run(story.id, "Mara reads the letter")
    assert isinstance(events[-1], Finished), events[-1]
    assert "think" not in fake.chat_requests[-1].body  # Ollama would refuse it (400)
    notes = [e.message for e in events if isinstance(e, Progress)]
    assert any("gemma3:latest does not think" in n and "without thinking" in n for n in notes)


# -- the thinking never enters the story --------------------------------------------------------


async def test_thinking_in_its_own_field_never_enters_the_part(
    kit: StoryKit, fake: FakeOllama
) -> None:
    events = await _write(kit, "on")
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    assert fake.chat_requests[-1].body["think"] is True
    assert any(isinstance(e, Thinking) for e in events)
    text = finished.part.content
    assert text.strip() and text == _streamed(events)
    assert "Let me think" not in text
    assert text == text.lstrip()


@pytest.mark.parametrize("think", [None, "on"])
async def test_think_tags_in_the_text_split_across_chunks_never_enter_the_part(
    kit: StoryKit, fake: FakeOllama, think: str | None
) -> None:
    fake.think_in_content = True  # an older Ollama: thinking in the text, tags in two pieces
    events = await _write(kit, think)
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    sent = fake.chat_requests[-1].text_sent
    assert sent.startswith("<think>Let me think.") and "</think>\n\n" in sent
    text = finished.part.content
    assert text.strip() and text == _streamed(events)
    for word in _thinking_words(fake):
        assert word not in text
    assert sent.split("</think>", 1)[1].strip() == text
    # ... and it is kept for the context viewer like the thinking field's.
    thought = MemoryState.from_memory(finished.session.memory).last_thinking
    assert thought is not None and thought["text"].startswith("Let me think.")


async def test_the_last_parts_thinking_is_kept_for_the_context_viewer(
    kit: StoryKit, fake: FakeOllama
) -> None:
    events = await _write(kit, "on")
    finished = events[-1]
    assert isinstance(finished, Finished)
    kept = kit.storyteller.last_thinking(kit.user_id, finished.part.session_id)
    assert kept is not None
    assert kept["seq"] == finished.part.seq and kept["model"] == THINKER
    assert kept["text"].startswith("Let me think.")
    # The next part without thinking does not leave the old thinking behind as its own.
    kit.sessions.set_options(kit.user_id, finished.part.session_id, {"think": "off"})
    again = await kit.run(finished.part.session_id, "The storm")
    assert isinstance(again[-1], Finished)
    assert kit.storyteller.last_thinking(kit.user_id, finished.part.session_id) is None


async def test_a_long_think_is_not_taken_for_a_hung_model(tmp_path: Path, fake: FakeOllama) -> None:
    # 25 thinking tokens at 20 a second: over a second of thinking, with no word of the part,
    # against a hang timer of 0.4 s.
    fake.rate = 20
    kit = make_kit(tmp_path, fake, ollama_timeout=0.4)
    try:
        fake.tokens = 5
        events = await _write(kit, "on")
        assert isinstance(events[-1], Finished), events[-1]
        assert events[-1].part.content.strip()
        thinking = [e.seconds for e in events if isinstance(e, Thinking)]
        assert thinking and max(thinking) > 0.4  # it did think past the hang timer
    finally:
        kit.close()


# -- the pieces ---------------------------------------------------------------------------------


def _split(chunks: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    text = "".join(splitter.feed(chunk) for chunk in chunks) + splitter.flush()
    return text, splitter.thinking


@pytest.mark.parametrize(
    "chunks",
    [
        ["<think>plan it</think>\n\nThe rain fell."],
        ["<", "think", ">plan", " it</", "think", ">", "\n\nThe rain", " fell."],
        ["<think>plan it</thi", "nk>The rain fell."],
        ["  <think>\nplan it\n</think>The rain fell."],
    ],
)
def test_think_tags_come_out_however_the_chunks_fall(chunks: list[str]) -> None:
    assert _split(chunks) == ("The rain fell.", "plan it")


def test_an_unclosed_think_keeps_everything_after_it_out_of_the_text() -> None:
    assert _split(["<think>still", " wondering"]) == ("", "still wondering")


def test_text_that_only_looks_like_a_tag_is_kept() -> None:
    assert _split(["She wrote <th", "e end> and a<"]) == ("She wrote <the end> and a<", "")


def test_a_summary_loses_its_think_tags() -> None:
    assert strip_thinking("<think>hmm</think>\nMara found the letter.") == "Mara found the letter."
    assert strip_thinking("<think>never closed") == ""


# -- the setting --------------------------------------------------------------------------------


def test_the_setting_is_checked_and_kept_with_the_options() -> None:
    assert clean_changes({"think": "High"}) == {"think": "high"}
    assert clean_changes({"think": True}) == {"think": "on"}
    with pytest.raises(InvalidInput, match="off, on, low, medium or high"):
        clean_changes({"think": "deeply"})
    stored = Sampling().changed({"think": "low"}).values()
    assert stored == {"think": "low"}
    assert Sampling.stored({"think": "nonsense", "seed": 3}) == Sampling(seed=3)
    memory = {"options": {"think": "on"}, "last_thinking": {"seq": 2, "text": "hm", "x": 1}}
    assert well_formed(memory)["options"] == {"think": "on"}
    assert well_formed(memory)["last_thinking"]["text"] == "hm"
    assert "last_thinking" not in well_formed({"last_thinking": {"seq": 0, "text": "hm"}})


THINKS = ThinkingTraits(thinks=True)
LEVELS = ThinkingTraits(thinks=True, levels=True)
PLAIN = ThinkingTraits(thinks=False)
UNKNOWN = ThinkingTraits()


@pytest.mark.parametrize(
    ("choice", "traits", "refused"),
    [
        ("on", PLAIN, "does not think"),
        ("high", PLAIN, "does not think"),
        ("high", THINKS, "takes no level"),
        ("on", THINKS, None),
        ("high", LEVELS, None),
        ("off", PLAIN, None),
        ("high", UNKNOWN, None),
    ],
)
def test_what_a_model_cannot_do_is_said(
    choice: str, traits: ThinkingTraits, refused: str | None
) -> None:
    said = think_refusal(choice, "m:1", traits)
    assert (said is None) if refused is None else (said is not None and refused in said)


@pytest.mark.parametrize(
    ("choice", "traits", "sent"),
    [
        (None, THINKS, "off"),
        (None, PLAIN, None),
        (None, UNKNOWN, None),
        ("on", PLAIN, None),
        ("on", LEVELS, "medium"),
        ("low", LEVELS, "low"),
        ("low", THINKS, "on"),
        ("on", UNKNOWN, "on"),
    ],
)
def test_what_is_sent_for_each_setting(
    choice: str | None, traits: ThinkingTraits, sent: str | None
) -> None:
    assert think_request(choice, "m:1", traits)[0] == sent


def test_capabilities_say_whether_a_model_thinks_and_takes_levels() -> None:
    assert ThinkingTraits.from_show("qwen3:4b", ["completion", "thinking"], "qwen3").thinks
    oss = ThinkingTraits.from_show("gpt-oss:20b", ["completion", "thinking"], "gptoss")
    assert oss.levels
    assert ThinkingTraits.from_show("gemma3:latest", ["completion"], "gemma3").thinks is False
    assert ThinkingTraits.from_show("old:latest", None, "llama").thinks is None


async def test_a_reply_that_is_all_thinking_says_so(kit: StoryKit, fake: FakeOllama) -> None:
    from storyterm.core.generation.events import Failed

    fake.tokens = 0  # the model thinks, then writes nothing
    events = await _write(kit, "on")
    failed = events[-1]
    assert isinstance(failed, Failed), failed
    assert "only thought and wrote nothing of the part" in failed.error.message
    assert failed.part is None  # nothing kept: no empty part in the story
