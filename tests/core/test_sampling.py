"""A story's sampling options: checked the one way, kept with the story (and in story.json),
laid over the settings' defaults, and sent to Ollama for the story's parts (read back from the
requests the Ollama stand-in received)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.export import export_session, import_story
from storyterm.core.generation.events import Finished
from storyterm.core.memory.state import OPTIONS, MemoryState
from storyterm.core.sampling import NAMES, Sampling, clean_value, rows
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama, prose
from storyterm.errors import InvalidInput, InvalidTransition, NotFound
from tests.helpers import make_user
from tests.story_helpers import StoryKit, append_prose_parts, is_summary_request, make_kit

#: Every option set to a value none of them has by default.
MINE = {
    "temperature": 1.25,
    "top_p": 0.85,
    "top_k": 33,
    "repeat_penalty": 1.15,
    "num_predict": 300,
    "seed": 4242,
}


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=5) as server:
        yield server


@pytest.fixture
def kit(tmp_path: Path, fake: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake)
    yield story_kit
    story_kit.close()


def sent(fake: FakeOllama) -> dict[str, Any]:
    """The options of the last request for a part (summaries left out)."""
    parts = [r for r in fake.chat_requests if not is_summary_request(r.body)]
    return parts[-1].options


# -- Ollama's request -------------------------------------------------------------------------


async def test_a_storys_options_reach_ollamas_request_for_its_part(
    kit: StoryKit, fake: FakeOllama
) -> None:
    story = kit.new_session()
    kit.sessions.set_options(kit.user_id, story.id, MINE)
    events = await kit.run(story.id, "Mara reads the letter")
    assert isinstance(events[-1], Finished), events[-1]
    options = sent(fake)
    assert {name: options[name] for name in NAMES} == MINE
    assert options["num_ctx"] == 8192


async def test_a_story_without_options_is_written_with_the_settings_defaults(
    tmp_path: Path, fake: FakeOllama
) -> None:
    kit = make_kit(tmp_path, fake, temperature=0.55, top_k=20, seed=11)
    try:
        story = kit.new_session()
        await kit.run(story.id, "Mara reads the letter")
        options = sent(fake)
        assert (options["temperature"], options["top_k"], options["seed"]) == (0.55, 20, 11)
        # Unset everywhere: not sent, so Ollama uses the model's own.
        assert "top_p" not in options and "repeat_penalty" not in options
    finally:
        kit.close()


async def test_unset_everywhere_nothing_but_the_window_and_reply_length_is_sent(
    kit: StoryKit, fake: FakeOllama
) -> None:
    story = kit.new_session()
    await kit.run(story.id, "Mara reads the letter")
    options = sent(fake)
    assert not set(options) & {"temperature", "top_p", "top_k", "repeat_penalty", "seed"}
    assert options["num_predict"] == 2048  # a quarter of 8192


async def test_a_storys_own_value_beats_the_default_until_it_is_reset(
    tmp_path: Path, fake: FakeOllama
) -> None:
    kit = make_kit(tmp_path, fake, temperature=0.5)
    try:
        story = kit.new_session()
        kit.sessions.set_options(kit.user_id, story.id, {"temperature": 1.4, "seed": 3})
        await kit.run(story.id, "One")
        assert (sent(fake)["temperature"], sent(fake)["seed"]) == (1.4, 3)
        kit.sessions.set_options(kit.user_id, story.id, {"temperature": None})
        await kit.run(story.id, "Two")
        assert (sent(fake)["temperature"], sent(fake)["seed"]) == (0.5, 3)  # seed stays
    finally:
        kit.close()


async def test_the_summary_keeps_its_own_low_temperature_and_the_window_holds(
    tmp_path: Path,
) -> None:
    """A long story in a small window: the summary calls are not the story's sampling, and a
    reply length far beyond the window is cut to half of it, so prompt and reply still fit."""

    def reply(body: dict[str, Any]) -> str:
        if is_summary_request(body):
            return "SUMMARY: " + prose(60, seed=1)
        return prose(150, seed=len(body["messages"]))

    model = FakeModel("gemma3:latest", context_length=2048)
    with FakeOllama(models=[model], reply=reply, chars_per_token=3.6) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            story = kit.new_session()
            append_prose_parts(kit, story.id, 60)
            kit.sessions.set_options(
                kit.user_id, story.id, {"temperature": 1.3, "seed": 9, "num_predict": 32768}
            )
            events = await kit.run(story.id, "The ferryman confesses")
            assert isinstance(events[-1], Finished), events[-1]
            summaries = [r for r in fake.chat_requests if is_summary_request(r.body)]
            parts = [r for r in fake.chat_requests if not is_summary_request(r.body)]
            assert summaries and len(parts) == 1
            for request in summaries:
                assert request.options["temperature"] == 0.3 and "seed" not in request.options
            options = parts[0].options
            assert (options["temperature"], options["seed"]) == (1.3, 9)
            assert options["num_predict"] == 1024  # half of num_ctx 2048
            for request in fake.chat_requests:
                assert request.prompt_tokens + request.options["num_predict"] <= 2048
                assert not request.overflowed
        finally:
            kit.close()


# -- the checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("temperature", 2.01, "Temperature must be a number from 0 to 2 (got 2.01)."),
        ("temperature", -0.1, "from 0 to 2"),
        ("temperature", math.nan, "from 0 to 2 (got nan)"),
        ("temperature", math.inf, "from 0 to 2 (got inf)"),
        ("temperature", "hot", "from 0 to 2 (got 'hot')"),
        ("temperature", True, "from 0 to 2 (got True)"),
        ("temperature", [0.5], "from 0 to 2 (got list)"),
        ("temperature", 10**400, "(got a number too large to use)"),
        ("top_p", 0, "Top p (top_p) must be a number more than 0 and at most 1 (got 0)."),
        ("top_p", 1.5, "more than 0 and at most 1"),
        ("top_k", 0, "Top k (top_k) must be a whole number from 1 to 1000 (got 0)."),
        ("top_k", 2.5, "must be a whole number from 1 to 1000 (got 2.5)"),
        ("top_k", "1e9", "from 1 to 1000 (got '1e9')"),
        ("repeat_penalty", 0.4, "Repeat penalty (repeat_penalty) must be a number from 0.5 to 2"),
        ("num_predict", 15, "Reply length (num_predict) must be a whole number from 16 to 32768"),
        ("num_predict", 32769, "from 16 to 32768 (got 32769)"),
        ("seed", -1, "Seed must be a whole number from 0 to 4294967295 (got -1)."),
        ("seed", 2**32, "from 0 to 4294967295"),
        ("seed", "9" * 5000, "from 0 to 4294967295 (got '999999999999"),
    ],
)
def test_bad_values_are_refused_saying_the_range(
    kit: StoryKit, name: str, value: Any, said: str
) -> None:
    story = kit.new_session()
    with pytest.raises(InvalidInput) as refused:
        kit.sessions.set_options(kit.user_id, story.id, {"seed": 5, name: value})
    assert said in refused.value.message
    # Nothing was kept, not even the good value beside the bad one.
    assert OPTIONS not in kit.sessions.get(kit.user_id, story.id).memory


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"temprature": 1}, "There is no sampling option 'temprature'. The options are"),
        ([("temperature", 1)], "The options must be an object"),
        ("temperature=1", "The options must be an object"),
    ],
)
def test_unknown_names_and_shapes_are_refused(kit: StoryKit, changes: Any, said: str) -> None:
    story = kit.new_session()
    with pytest.raises(InvalidInput, match=said):
        kit.sessions.set_options(kit.user_id, story.id, changes)


def test_number_text_and_whole_floats_are_taken_as_typed() -> None:
    """What the CLI and the TUI's inputs hand over: text, read as Python reads a number."""
    assert clean_value("temperature", " 0.7 ") == 0.7
    assert clean_value("top-k", "40") == 40 and isinstance(clean_value("top_k", 40.0), int)
    assert clean_value("num_predict", "1_000") == 1000
    assert clean_value("seed", 0) == 0 and clean_value("seed", 2**32 - 1) == 2**32 - 1
    assert clean_value("top_p", 1) == 1.0 and isinstance(clean_value("top_p", 1), float)


def test_another_writers_story_is_not_found(kit: StoryKit) -> None:
    story = kit.new_session()
    bob = make_user(kit.store, "bob")
    with pytest.raises(NotFound):
        kit.sessions.set_options(bob, story.id, {"temperature": 1.0})
    assert OPTIONS not in kit.sessions.get(kit.user_id, story.id).memory


def test_a_completed_story_keeps_its_options(kit: StoryKit) -> None:
    story = kit.new_session()
    kit.sessions.complete(kit.user_id, story.id)
    with pytest.raises(InvalidTransition, match="Reopen it"):
        kit.sessions.set_options(kit.user_id, story.id, {"temperature": 1.0})


def test_setting_keeps_the_others_and_a_reset_leaves_only_what_is_set(kit: StoryKit) -> None:
    story = kit.new_session()
    kit.sessions.set_options(kit.user_id, story.id, {"temperature": 0.9, "top_k": 12})
    kit.sessions.set_options(kit.user_id, story.id, {"seed": 1, "top_k": None})
    memory = kit.sessions.get(kit.user_id, story.id).memory
    assert memory[OPTIONS] == {"temperature": 0.9, "seed": 1}


def test_rows_say_where_each_value_comes_from() -> None:
    shown = {
        row.option.name: (row.shown, row.source)
        for row in rows(Sampling(temperature=1.5), Sampling(temperature=0.5, seed=7))
    }
    assert shown["temperature"] == ("1.5", "story")
    assert shown["seed"] == ("7", "default")
    assert shown["top_p"] == ("the model's own", "unset")
    assert shown["num_predict"] == ("as the window allows", "unset")


# -- story.json ---------------------------------------------------------------------------------


def test_export_and_import_keep_a_storys_options(kit: StoryKit, tmp_path: Path) -> None:
    story = kit.new_session()
    kit.sessions.append_part(kit.user_id, story.id, direction="One", content="Mara woke.")
    kit.sessions.set_options(kit.user_id, story.id, MINE)
    result = export_session(
        kit.sessions, kit.user_id, story.id, out_dir=tmp_path / "out", formats=["json"]
    )
    on_disk = json.loads((result.folder / "story.json").read_text(encoding="utf-8"))
    assert on_disk["session"]["memory"][OPTIONS] == MINE
    copy_ = import_story(kit.sessions, kit.user_id, result.folder, again=True)
    back = MemoryState.from_memory(kit.sessions.get(kit.user_id, copy_.id).memory).options
    assert back.values() == MINE


def test_an_imported_option_out_of_range_is_dropped_and_the_rest_kept(
    kit: StoryKit, tmp_path: Path
) -> None:
    story = kit.new_session()
    kit.sessions.set_options(kit.user_id, story.id, {"temperature": 0.9, "seed": 2})
    result = export_session(
        kit.sessions, kit.user_id, story.id, out_dir=tmp_path / "out", formats=["json"]
    )
    path = result.folder / "story.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["session"]["memory"][OPTIONS] = {"temperature": 9, "seed": 2, "top_k": "many", "x": 1}
    path.write_text(json.dumps(data), encoding="utf-8")
    copy_ = import_story(kit.sessions, kit.user_id, path, again=True)
    assert kit.sessions.get(kit.user_id, copy_.id).memory[OPTIONS] == {"seed": 2}
