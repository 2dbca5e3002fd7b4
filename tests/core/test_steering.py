"""The writer's steering, as the model receives it through the real ChatOllama client and the
fake Ollama: the story's instructions are the system message (the default until set), the
author's note sits at its depth among the parts, and neither ever pushes a prompt past num_ctx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.basics import MAX_INSTRUCTIONS, MAX_NOTE
from storyterm.core.generation.events import Finished
from storyterm.core.generation.storyteller import Storyteller
from storyterm.core.memory import state as keys
from storyterm.core.memory.steering import (
    DEFAULT_INSTRUCTIONS,
    Steering,
    clean_steering,
)
from storyterm.core.storage.tables import SessionStatus
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama, prose
from storyterm.errors import InvalidInput, InvalidTransition
from tests.story_helpers import (
    BIBLE,
    StoryKit,
    append_prose_parts,
    is_summary_request,
    make_kit,
)

NOTE = "tense, rain, Mara is lying"


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=8) as fake:
        yield fake


@pytest.fixture
def kit(tmp_path: Path, fake_ollama: FakeOllama) -> Iterator[StoryKit]:
    story_kit = make_kit(tmp_path, fake_ollama)
    yield story_kit
    story_kit.close()


def sent(fake: FakeOllama) -> list[tuple[str, str]]:
    """The messages of the last chat request, as (role, content)."""
    return [(m["role"], m["content"]) for m in fake.chat_requests[-1].messages]


def with_parts(kit: StoryKit, count: int) -> str:
    session = kit.new_session()
    for n in range(1, count + 1):
        kit.sessions.append_part(
            kit.user_id, session.id, direction=f"Step {n}", content=f"Part {n} of the tale."
        )
    return session.id


def note_place(messages: list[tuple[str, str]]) -> int:
    """How many parts (direction + text) come after the note."""
    [index] = [i for i, (_, text) in enumerate(messages) if NOTE in text]
    assert messages[index][0] == "user"
    return (len(messages) - 1 - index - 1) // 2


async def test_the_default_instructions_until_the_writer_sets_their_own(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    session_id = with_parts(kit, 1)
    await kit.run(session_id, "Mara opens the door")
    role, system = sent(fake_ollama)[0]
    assert role == "system" and system.startswith(DEFAULT_INSTRUCTIONS)
    assert "Title: The Keeper's Letter" in system and BIBLE["premise"] in system

    mine = "Write like a ship's log: short entries, present tense, no dialogue."
    kit.sessions.set_steering(kit.user_id, session_id, {"instructions": mine})
    await kit.run(session_id, "The storm")
    system = sent(fake_ollama)[0][1]
    assert system.startswith(mine) and DEFAULT_INSTRUCTIONS not in system
    assert BIBLE["premise"] in system  # the bible keeps its place after the instructions

    # Back to the default (None, or the default text itself, which is stored as unset).
    for reset in (None, DEFAULT_INSTRUCTIONS):
        kit.sessions.set_steering(kit.user_id, session_id, {"instructions": mine})
        kit.sessions.set_steering(kit.user_id, session_id, {"instructions": reset})
        memory = kit.sessions.get(kit.user_id, session_id).memory
        assert keys.INSTRUCTIONS not in memory
    await kit.run(session_id, "After the storm")
    assert sent(fake_ollama)[0][1].startswith(DEFAULT_INSTRUCTIONS)


async def test_the_note_sits_at_its_depth_and_moves_with_it(
    kit: StoryKit, fake_ollama: FakeOllama
) -> None:
    session_id = with_parts(kit, 6)
    kit.sessions.set_steering(kit.user_id, session_id, {"note": NOTE})
    await kit.run(session_id, "Mara opens the door")
    messages = sent(fake_ollama)
    assert note_place(messages) == 3  # the default: before the last 3 parts
    assert messages[-1] == ("user", "Mara opens the door")

    kit.sessions.set_steering(kit.user_id, session_id, {"note_depth": 0})
    await kit.run(session_id, "The storm")
    messages = sent(fake_ollama)
    assert note_place(messages) == 0 and NOTE in messages[-2][1]  # right before the direction
    assert messages[-1] == ("user", "The storm")

    # Deeper than the parts sent: before the first of them, right after the system message.
    kit.sessions.set_steering(kit.user_id, session_id, {"note_depth": 50})
    await kit.run(session_id, "")
    messages = sent(fake_ollama)
    assert NOTE in messages[1][1] and messages[2] == ("user", "Step 1")
    # The context viewer shows exactly what was sent, also rebuilt after a restart.
    assert kit.storyteller.last_prompt(kit.user_id, session_id) == messages
    fresh = Storyteller(kit.sessions, kit.settings)  # as after a restart
    try:
        assert fresh.last_prompt(kit.user_id, session_id) == messages
    finally:
        fresh.close()

    # No note: nothing is inserted.
    kit.sessions.set_steering(kit.user_id, session_id, {"note": None})
    await kit.run(session_id, "Dawn")
    assert not any(NOTE in text or "Author's note" in text for _, text in sent(fake_ollama))


async def test_a_300_part_story_with_a_long_note_and_instructions_fits_every_prompt(
    tmp_path: Path,
) -> None:
    def reply(body: dict) -> str | None:
        if is_summary_request(body):
            return "SUMMARY: " + prose(60, seed=len(body["messages"]))
        return prose(150, seed=len(body["messages"]))

    note = "NOTE-START " + prose(700, seed=1)[: MAX_NOTE - 20]
    instructions = "INSTRUCTIONS-START " + prose(4000, seed=2)[: MAX_INSTRUCTIONS - 30]
    model = FakeModel("gemma3:latest", context_length=2048)
    with FakeOllama(models=[model], reply=reply, chars_per_token=3.6) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            session = kit.new_session()
            append_prose_parts(kit, session.id, 300)
            kit.sessions.set_steering(
                kit.user_id,
                session.id,
                {"note": note, "note_depth": 2, "instructions": instructions},
            )
            for direction in ("Mara opens the door", "", "The ferryman confesses"):
                events = await kit.run(session.id, direction)
                assert isinstance(events[-1], Finished), events[-1]
            parts = [r for r in fake.chat_requests if "SUMMARY" not in r.text_sent]
            assert len(parts) == 3
            for request in fake.chat_requests:
                assert request.options["num_ctx"] == 2048
                assert request.prompt_tokens + request.options["num_predict"] <= 2048
                assert not request.overflowed
            for request in parts:
                texts = [m["content"] for m in request.messages]
                assert texts[0].startswith("INSTRUCTIONS-START")
                assert "Title: The Keeper's Letter" in texts[0]
                [note_at] = [i for i, t in enumerate(texts) if "NOTE-START" in t]
                sent_parts = (len(texts) - 3) // 2
                assert sent_parts >= 1  # the story itself still has room
                # Before the last 2 parts, or before all of them when fewer fit.
                assert len(texts) - 1 - note_at == 2 * min(2, sent_parts) + 1
        finally:
            kit.close()


# -- what the writer may set -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"note": "x" * (MAX_NOTE + 1)}, f"keep it to {MAX_NOTE:,} or fewer"),
        ({"instructions": "x" * (MAX_INSTRUCTIONS + 1)}, f"{MAX_INSTRUCTIONS:,} or fewer"),
        ({"note": "rain\x00"}, "cannot be saved"),
        ({"instructions": 7}, "must be text"),
        ({"note_depth": 51}, "from 0 (right before your direction) to 50"),
        ({"note_depth": -1}, "not -1"),
        ({"note_depth": True}, "not True"),
        ({"note_depth": "three"}, "not 'three'"),
        ({"depth": 2}, "use note, note_depth, instructions"),
        (["note"], "must be an object"),
    ],
)
def test_bad_steering_is_refused_saying_what_to_do(changes: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clean_steering(changes)
    assert message in caught.value.message


def test_steering_is_checked_trimmed_and_kept_in_memory(kit: StoryKit) -> None:
    session_id = with_parts(kit, 1)
    assert Steering.of({}) == Steering("", 3, DEFAULT_INSTRUCTIONS, False)
    session = kit.sessions.set_steering(
        kit.user_id, session_id, {"note": f"  {NOTE}\n", "note_depth": "7", "instructions": "  "}
    )
    assert Steering.of(session.memory) == Steering(NOTE, 7, DEFAULT_INSTRUCTIONS, False)
    # Nothing is written when nothing changes (no version bump, no event).
    again = kit.sessions.set_steering(kit.user_id, session_id, {"note": NOTE})
    assert again.version == session.version
    # A refused change writes nothing, even beside a good one.
    with pytest.raises(InvalidInput):
        kit.sessions.set_steering(kit.user_id, session_id, {"note": "ok", "note_depth": 99})
    assert Steering.of(kit.sessions.get(kit.user_id, session_id).memory).note == NOTE
    kit.sessions.complete(kit.user_id, session_id)
    with pytest.raises(InvalidTransition, match="Reopen it"):
        kit.sessions.set_steering(kit.user_id, session_id, {"note": "another"})
    assert kit.sessions.get(kit.user_id, session_id).status is SessionStatus.COMPLETED


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({keys.NOTE: 5, keys.NOTE_DEPTH: 51, keys.INSTRUCTIONS: ["x"]}, Steering.of({})),
        ({keys.NOTE: "x" * (MAX_NOTE + 1), keys.NOTE_DEPTH: True}, Steering.of({})),
        ({keys.NOTE: "rain", keys.NOTE_DEPTH: 0}, Steering("rain", 0, DEFAULT_INSTRUCTIONS, False)),
    ],
)
def test_stored_steering_of_the_wrong_shape_reads_as_unset(
    stored: dict, expected: Steering
) -> None:
    assert Steering.of(stored) == expected
    assert Steering.of(keys.well_formed(stored)) == expected


def test_another_window_hears_the_steering_change(database_url: str, redis_url: str) -> None:
    """Stored on PostgreSQL as on SQLite, and heard as the story bible changing."""
    from storyterm.core.events import EventKind
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store
    from tests.core.test_events import has, hear
    from tests.helpers import make_user

    one = SessionService(Store.open(database_url, redis_url))
    other = Store.open(database_url, redis_url)
    try:
        alice = make_user(one.store)
        story = one.start(alice, "Heard")
        listening = other.events.subscribe(alice)
        changed = one.set_steering(alice, story.id, {"note": NOTE, "instructions": "Be terse."})
        hear(listening, has(EventKind.BIBLE_CHANGED, session_id=story.id, version=changed.version))
        listening.close()
        assert Steering.of(other.get_session(alice, story.id).memory) == Steering(
            NOTE, 3, "Be terse.", True
        )
    finally:
        one.store.close()
        other.close()


def test_story_json_carries_the_steering_and_older_files_still_import(
    kit: StoryKit, tmp_path: Path
) -> None:
    import json

    from storyterm.core.export import export_session, import_story

    session_id = with_parts(kit, 2)
    hostile = "\x1b]0;pwned\x07 rain \u202eevil"
    kit.sessions.set_steering(
        kit.user_id,
        session_id,
        {"note": f"{NOTE} {hostile}", "note_depth": 0, "instructions": f"Be terse. {hostile}"},
    )
    result = export_session(
        kit.sessions, kit.user_id, session_id, out_dir=tmp_path, formats=["json"]
    )
    back = import_story(kit.sessions, kit.user_id, result.folder, again=True)
    assert Steering.of(back.memory) == Steering(
        f"{NOTE} {hostile}", 0, f"Be terse. {hostile}", True
    )
    # A story.json from before the note: it imports, with no note and the default instructions.
    path = result.folder / "story.json"
    data = json.loads(path.read_text())
    for key in (keys.NOTE, keys.NOTE_DEPTH, keys.INSTRUCTIONS):
        del data["session"]["memory"][key]
    path.write_text(json.dumps(data))
    older = import_story(kit.sessions, kit.user_id, path, again=True)
    assert Steering.of(older.memory) == Steering.of({})
