"""A part that ends because the model filled its reply length (Ollama's done_reason "length")
is marked so on the part itself (state "cut", kept through a reload and story.json), and
finishing it goes on from exactly where it was cut, mid-sentence, as a new take of the same
part. Against the project's Ollama stand-in, which stops at num_predict and says "length"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core.basics import PartState, TakeKind
from storyterm.core.export import export_session, import_story
from storyterm.core.generation.events import Finished
from storyterm.devtools.fake_ollama import FakeOllama
from tests.story_helpers import StoryKit, make_kit

#: The reply the stand-in writes: far longer than the reply length the story allows.
LONG = " ".join(["the lantern swung over the dark water and the keeper"] * 20)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], reply=LONG) as server:
        yield server


@pytest.fixture
def kit(tmp_path: Path, fake: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake)
    yield story_kit
    story_kit.close()


async def cut_story(kit: StoryKit) -> tuple[str, Finished]:
    story = kit.new_session()
    kit.sessions.set_options(kit.user_id, story.id, {"num_predict": 16})
    events = await kit.run(story.id, "The storm reaches the harbour")
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    return story.id, finished


async def test_a_part_that_fills_its_reply_length_is_marked_cut_and_stays_so(
    kit: StoryKit, fake: FakeOllama, tmp_path: Path
) -> None:
    sid, finished = await cut_story(kit)
    assert finished.done_reason == "length" and not finished.interrupted
    assert finished.part.state is PartState.CUT
    # Read again from the database: the mark is the part's own.
    again = kit.sessions.get_part(kit.user_id, sid, 1)
    assert again.state is PartState.CUT and again.content == finished.part.content
    # ... and it travels in story.json.
    folder = export_session(
        kit.sessions, kit.user_id, sid, out_dir=tmp_path / "out", formats=["json"]
    )
    imported = import_story(kit.sessions, kit.user_id, folder.folder / "story.json", again=True)
    assert kit.sessions.get_part(kit.user_id, imported.id, 1).state is PartState.CUT


async def test_a_part_the_model_ended_itself_is_done(kit: StoryKit, fake: FakeOllama) -> None:
    fake.reply = "The keeper slept."
    story = kit.new_session()
    events = await kit.run(story.id, "Night")
    assert isinstance(events[-1], Finished)
    assert events[-1].done_reason == "stop" and events[-1].part.state is PartState.DONE


async def test_finishing_a_cut_part_goes_on_mid_sentence_without_a_recap(
    kit: StoryKit, fake: FakeOllama
) -> None:
    sid, cut = await cut_story(kit)
    text = cut.part.content
    assert not text.rstrip().endswith((".", "!", "?"))  # cut mid-sentence
    fake.reply = "dreamed of the far shore until morning came."
    kit.sessions.set_options(kit.user_id, sid, {"num_predict": None})
    events = await kit.run(sid, finish=True)
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    # The model was asked to go on from exactly where the text stops, not to retell it.
    asked = fake.chat_requests[-1].messages[-1]["content"]
    assert "Continue it from exactly where the text below stops" in asked
    assert "Do not repeat any of it" in asked
    assert asked.endswith(text)
    # One part, a new take of it, joined mid-sentence: no paragraph break at the cut.
    part = finished.part
    assert (part.seq, part.take, part.takes) == (1, 2, 2)
    assert part.take_kind is TakeKind.CONTINUED and part.state is PartState.DONE
    assert part.content == text + " dreamed of the far shore until morning came."
    assert kit.sessions.get(kit.user_id, sid).part_count == 1
    # The cut take is kept: choosing it again gives back exactly what was cut.
    takes = kit.storyteller.history.takes(kit.user_id, sid, 1)
    assert [t.state for t in takes] == [PartState.CUT, PartState.DONE]
    assert takes[0].content == text


async def test_a_finish_cut_again_is_cut_again_and_can_go_on(
    kit: StoryKit, fake: FakeOllama
) -> None:
    sid, _cut = await cut_story(kit)
    events = await kit.run(sid, finish=True)  # still 16 tokens of room: cut again
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.part.state is PartState.CUT
    fake.reply = "and all was still."
    kit.sessions.set_options(kit.user_id, sid, {"num_predict": None})
    done = (await kit.run(sid, finish=True))[-1]
    assert isinstance(done, Finished) and done.part.state is PartState.DONE
    assert done.part.content == finished.part.content + " and all was still."
