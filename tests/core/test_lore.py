"""The lorebook: entries saved (and refused) as a writer would see, matched against the recent
parts and the direction, fitted to their share of the window, and sent to the model (read back
from the prompts the Ollama stand-in received)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.events.model import EventKind
from storyterm.core.export import export_session, import_story
from storyterm.core.generation.events import Finished
from storyterm.core.memory import lore as lore_rules
from storyterm.core.memory.state import MemoryState
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.views import LoreEntry
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama, prose
from storyterm.errors import InvalidInput, InvalidTransition, NotFound
from tests.helpers import make_user
from tests.story_helpers import (
    BIBLE,
    StoryKit,
    append_prose_parts,
    make_kit,
    summarising_reply,
)


def entry(entry_id: int, name: str, keys: list[str], **fields: Any) -> LoreEntry:
    now = datetime.now(UTC)
    values = {"content": f"{name} facts.", **fields}
    return LoreEntry(
        id=entry_id, session_id="s", name=name, keys=keys, created_at=now, updated_at=now, **values
    )


# -- matching ---------------------------------------------------------------------------------


def test_plain_keys_match_whole_words_and_follow_the_case_rule() -> None:
    mara = entry(1, "Mara", ["mara"])
    cased = entry(2, "Ward", ["Ward"], case_sensitive=True)
    phrase = entry(3, "Lantern room", ["lantern room"])
    hyphen = entry(4, "K-9", ["K-9"])

    def active(text: str) -> list[str]:
        return sorted(
            a.entry.name for a in lore_rules.choose([mara, cased, phrase, hyphen], [text])
        )

    assert active("MARA climbed.") == ["Mara"]
    assert active("Maradona climbed, and the towards wind.") == []  # whole words only
    assert active("the ward was quiet") == []  # case-sensitive
    assert active("Ward was quiet") == ["Ward"]
    assert active("up to the Lantern\n  Room") == ["Lantern room"]  # spaces in a phrase bend
    assert active("the lantern, the room") == []
    assert active("K-9 barked; K-90 did not") == ["K-9"]
    assert active("K-90 did not") == []


def test_regex_keys_match_and_a_bad_regex_is_refused_when_saved() -> None:
    ship = entry(1, "Ship", [r"\bship(s|wright)?\b"], regex=True)
    assert [a.entry.name for a in lore_rules.choose([ship], ["The SHIPWRIGHT came"])] == ["Ship"]
    with pytest.raises(InvalidInput, match=r"not a valid regular expression.*turn regex off"):
        lore_rules.clean_draft(
            {"name": "Bad", "keys": ["(unclosed"], "content": "x", "regex": True}
        )
    # A pattern that also matches empty text counts only where it matches something.
    stars = entry(2, "Stars", ["z*"], regex=True)
    assert lore_rules.choose([stars], ["no such letter here"]) == []
    assert [a.entry.name for a in lore_rules.choose([stars], ["a", "fizz"])] == ["Stars"]
    assert lore_rules.choose([stars], ["a", "fizz"])[0].match == 1
    # The same text as plain words is fine: it is matched literally.
    draft = lore_rules.clean_draft({"name": "Lit", "keys": ["(unclosed"], "content": "x"})
    assert draft.keys == ("(unclosed",)


def test_active_entries_are_ordered_by_priority_then_by_most_recent_match() -> None:
    old = entry(1, "Old", ["harbour"], priority=5)
    new = entry(2, "New", ["storm"], priority=5)
    top = entry(3, "Top", ["harbour"], priority=9)
    always = entry(4, "Always", [], always_on=True, priority=5)
    off = entry(5, "Off", ["storm"], enabled=False, priority=100)
    texts = ["the storm", "the harbour"]  # most recent first
    order = [a.entry.name for a in lore_rules.choose([old, new, top, always, off], texts)]
    assert order == ["Top", "New", "Old", "Always"]


def test_entries_that_do_not_fit_are_reported_and_smaller_ones_still_get_in() -> None:
    big = entry(1, "Big", ["a"], content="word " * 400, priority=9)
    small = entry(2, "Small", ["a"], content="short", priority=1)
    active = lore_rules.choose([big, small], ["a"])
    block, report = lore_rules.fit(active, 100, lambda t: len(t) // 4)
    assert "## Small\nshort" in block and "## Big" not in block
    assert report.used == ((2, "Small"),) and report.left_out == ((1, "Big"),)
    assert report.tokens > 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "", "keys": ["a"], "content": "x"}, "needs a name"),
        ({"name": "N" * 101, "keys": ["a"], "content": "x"}, "keep it to 100"),
        ({"name": "N", "keys": ["a"], "content": " "}, "needs its text"),
        ({"name": "N", "keys": ["a"], "content": "x" * 10_001}, "10,000 or fewer"),
        ({"name": "N", "keys": ["k" * 201], "content": "x"}, "too long"),
        ({"name": "N", "keys": ["a"], "content": "x", "priority": 5000}, "between -1,000"),
        ({"name": "N", "keys": "a", "content": "x", "colour": "red"}, "no field 'colour'"),
        ({"name": "N", "keys": [1], "content": "x"}, "list of words"),
        ({"name": "N\x1b[2J", "keys": ["a"], "content": "x"}, "control characters"),
    ],
)
def test_entries_a_story_cannot_hold_are_refused_clearly(values: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        lore_rules.clean_draft(values)


# -- storage ----------------------------------------------------------------------------------


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def test_entries_are_saved_changed_deleted_and_restored_with_the_version_moving_on(
    service: SessionService,
) -> None:
    alice = make_user(service.store, "alice")
    story = service.start(alice, "Salt Roads", {}, None)
    heard: list[Any] = []
    service.store.tx.on_commit = heard.extend
    added = service.lore.add(
        alice, story.id, {"name": "Mara", "keys": "Mara, the keeper", "content": "Keeps the light."}
    )
    assert added.keys == ["Mara", "the keeper"] and added.enabled and not added.always_on
    changed = service.lore.edit(alice, story.id, added.id, {"priority": 7, "enabled": False})
    assert (changed.priority, changed.enabled, changed.content) == (7, False, "Keeps the light.")
    service.lore.delete(alice, story.id, added.id)
    assert service.lore.list(alice, story.id) == []
    assert [e.id for e in service.lore.deleted(alice, story.id)] == [added.id]
    back = service.lore.restore(alice, story.id, added.id)
    assert back.content == "Keeps the light." and back.priority == 7
    assert [e.name for e in service.lore.list(alice, story.id)] == ["Mara"]
    assert [e.kind for e in heard] == [EventKind.LORE_CHANGED] * 4
    assert service.get(alice, story.id).version == story.version + 4
    with pytest.raises(NotFound, match="no lore entry 999"):
        service.lore.edit(alice, story.id, 999, {"priority": 1})


def test_another_writers_lorebook_is_not_found(service: SessionService) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    story = service.start(alice, "Salt Roads", {}, None)
    mine = service.lore.add(alice, story.id, {"name": "Mara", "keys": ["Mara"], "content": "x"})
    for call in (
        lambda: service.lore.list(bob, story.id),
        lambda: service.lore.add(bob, story.id, {"name": "B", "keys": ["b"], "content": "x"}),
        lambda: service.lore.edit(bob, story.id, mine.id, {"priority": 1}),
        lambda: service.lore.delete(bob, story.id, mine.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert [e.priority for e in service.lore.list(alice, story.id)] == [0]


def test_a_completed_story_keeps_its_lorebook_read_only(service: SessionService) -> None:
    alice = make_user(service.store, "alice")
    story = service.start(alice, "Salt Roads", {}, None)
    service.complete(alice, story.id)
    with pytest.raises(InvalidTransition, match="completed and read-only"):
        service.lore.add(alice, story.id, {"name": "M", "keys": ["m"], "content": "x"})


def test_a_story_holds_at_most_so_many_entries(
    service: SessionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyterm.core.storage import lore as lore_rows

    monkeypatch.setattr(lore_rows, "MAX_ENTRIES", 2)
    alice = make_user(service.store, "alice")
    story = service.start(alice, "Salt Roads", {}, None)
    for n in range(2):
        service.lore.add(alice, story.id, {"name": f"E{n}", "keys": ["k"], "content": "x"})
    with pytest.raises(InvalidInput, match="2 lore entries, the most a story can hold"):
        service.lore.add(alice, story.id, {"name": "E3", "keys": ["k"], "content": "x"})


def test_the_lorebook_travels_in_story_json(service: SessionService, tmp_path: Path) -> None:
    alice = make_user(service.store, "alice")
    story = service.start(alice, "Salt Roads", {}, None)
    service.append_part(alice, story.id, direction="Begin", content="Mara woke.")
    service.lore.add(
        alice,
        story.id,
        {"name": "Mara", "keys": ["Mara"], "content": "Keeps the light.", "priority": 3},
    )
    service.lore.add(
        alice,
        story.id,
        {"name": "Ships", "keys": [r"ships?"], "content": "Ferries.", "regex": True},
    )
    service.lore.add(
        alice, story.id, {"name": "Tone", "keys": [], "content": "Grey.", "always_on": True}
    )
    service.lore.set_settings(alice, story.id, scan_depth=2, share=0.2)
    report = {"used": [[1, "Mara"]], "left_out": [], "tokens": 9}
    service.merge_memory(alice, story.id, {"last_lore": report})
    result = export_session(service, alice, story.id, out_dir=tmp_path, formats=["json"])
    copy_ = import_story(service, alice, result.folder, again=True)

    def shape(e: LoreEntry) -> tuple:
        return (e.name, e.keys, e.content, e.priority, e.always_on, e.regex, e.case_sensitive)

    originals = [shape(e) for e in service.lore.list(alice, story.id)]
    assert [shape(e) for e in service.lore.list(alice, copy_.id)] == originals
    settings = service.lore.settings(alice, copy_.id)
    assert (settings.scan_depth, settings.share) == (2, 0.2)
    # The last prompt's marks name the original's entry ids: the copy starts without them.
    assert "last_lore" not in service.get(alice, copy_.id).memory


def test_a_story_file_from_before_lorebooks_still_imports(
    service: SessionService, tmp_path: Path
) -> None:
    import json

    alice = make_user(service.store, "alice")
    story = service.start(alice, "Salt Roads", {}, None)
    result = export_session(service, alice, story.id, out_dir=tmp_path, formats=["json"])
    path = result.folder / "story.json"
    data = json.loads(path.read_text())
    data.pop("lore")
    path.write_text(json.dumps(data))
    copy_ = import_story(service, alice, path, again=True)
    assert service.lore.list(alice, copy_.id) == []
    data["lore"] = [{"name": "Bad", "keys": ["("], "content": "x", "regex": True}]
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match="lore entry 1: The key '\\(' is not a valid regular"):
        import_story(service, alice, path, again=True)
    for bad, said in (({"a": 1}, 'field "lore": must be a list'), ([7], "lore entry 1: must be")):
        data["lore"] = bad
        path.write_text(json.dumps(data))
        with pytest.raises(InvalidInput, match=said):
            import_story(service, alice, path, again=True)
    assert len(service.list(alice).items) == 2  # the story and the one good copy, no more


# -- the prompts the model receives -----------------------------------------------------------


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[StoryKit]:
    with FakeOllama(models=["gemma3:latest"]) as fake:
        story_kit = make_kit(tmp_path, fake)
        yield story_kit
        story_kit.close()


def system_sent(kit: StoryKit) -> str:
    assert kit.fake is not None
    return str(kit.fake.chat_requests[-1].messages[0]["content"])


async def test_an_entry_is_sent_exactly_when_its_key_is_in_the_scan_window_or_direction(
    kit: StoryKit,
) -> None:
    # Keys the stand-in's own prose never writes, so only the test's parts bring them in.
    story = kit.new_session()
    lore, me = kit.sessions.lore, kit.user_id
    for n, text in enumerate(["Vesper stood.", "Rain.", "Rain.", "Rain.", "Rain."], 1):
        kit.sessions.append_part(me, story.id, direction=f"Step {n}", content=text)
    lore.add(me, story.id, {"name": "Vesper", "keys": ["vesper"], "content": "V1"})
    lore.add(me, story.id, {"name": "Zeppelin", "keys": ["zeppelin"], "content": "Z1"})
    twin = {"name": "Twin", "keys": ["vesper"], "content": "T1", "always_on": True}
    lore.add(me, story.id, twin)

    # "Vesper" is in part 1, five parts back: outside the default scan depth of 4.
    events = await kit.run(story.id, "Mara waits")
    assert isinstance(events[-1], Finished), events[-1]
    system = system_sent(kit)
    assert "## Twin\nT1" in system and "## Vesper" not in system and "## Zeppelin" not in system
    report = MemoryState.from_memory(events[-1].session.memory).last_lore
    assert report is not None and [n for _, n in report["used"]] == ["Twin"]

    # In the direction: sent.
    await kit.run(story.id, "The Zeppelin comes")
    system = system_sent(kit)
    assert "## Zeppelin\nZ1" in system and "## Twin\nT1" in system and "## Vesper" not in system
    # A wider scan window reaches part 1 (and part 7, whose direction named the zeppelin).
    lore.set_settings(me, story.id, scan_depth=7)
    await kit.run(story.id, "")
    system = system_sent(kit)
    assert "## Vesper\nV1" in system and "## Zeppelin\nZ1" in system
    # A disabled entry is never sent, even named in the direction.
    [vesper] = [e for e in lore.list(me, story.id) if e.name == "Vesper"]
    lore.edit(me, story.id, vesper.id, {"enabled": False})
    await kit.run(story.id, "vesper")
    assert "## Vesper" not in system_sent(kit) and "## Twin\nT1" in system_sent(kit)


async def test_priorities_decide_what_fits_and_the_rest_is_reported(tmp_path: Path) -> None:
    model = FakeModel("gemma3:latest", context_length=2048)
    with FakeOllama(models=[model]) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            story = kit.new_session()
            for p in range(1, 6):
                kit.sessions.lore.add(
                    kit.user_id,
                    story.id,
                    {
                        "name": f"Entry {p}",
                        "keys": ["harbour"],
                        "content": f"E{p} " + prose(90, seed=p),
                        "priority": p,
                    },
                )
            events = await kit.run(story.id, "The harbour at dusk")
            assert isinstance(events[-1], Finished), events[-1]
            system = system_sent(kit)
            report = MemoryState.from_memory(events[-1].session.memory).last_lore
            assert report is not None
            used = [n for _, n in report["used"]]
            left = [n for _, n in report["left_out"]]
            # A 15% share of 2,048 tokens holds two or three of these ~130-token entries.
            assert used and left and sorted(used + left) == [f"Entry {p}" for p in range(1, 6)]
            assert used == sorted(used, reverse=True) and min(used) > max(left)
            for name in used:
                assert f"## {name}\n" in system
            for name in left:
                assert f"## {name}\n" not in system
            request = fake.chat_requests[-1]
            assert request.prompt_tokens + request.options["num_predict"] <= 2048
        finally:
            kit.close()


async def test_a_300_part_story_with_200_lore_entries_always_fits(tmp_path: Path) -> None:
    summaries: list[str] = []

    model = FakeModel("gemma3:latest", context_length=2048)
    with FakeOllama(
        models=[model], reply=summarising_reply(summaries), chars_per_token=3.6
    ) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            story = kit.new_session()
            append_prose_parts(kit, story.id, 300)
            words = sorted({w.strip(".,;:!?\"'").lower() for w in prose(2000, seed=7).split()})
            for n in range(200):
                kit.sessions.lore.add(
                    kit.user_id,
                    story.id,
                    {
                        "name": f"Entry {n}",
                        "keys": [words[n % len(words)]],
                        "content": prose(60, seed=1000 + n),
                        "priority": n % 7,
                        "always_on": n % 50 == 0,
                    },
                )
            for direction in ("Mara opens the door", "", "The ferryman confesses"):
                events = await kit.run(story.id, direction)
                assert isinstance(events[-1], Finished), events[-1]
                report = MemoryState.from_memory(events[-1].session.memory).last_lore
                assert report is not None and report["used"] and report["left_out"]
            for request in fake.chat_requests:
                num_ctx = request.options["num_ctx"]
                assert num_ctx == 2048
                assert request.prompt_tokens + request.options["num_predict"] <= num_ctx
                assert not request.overflowed
                assert "Title: The Keeper's Letter" in request.prompt_text
                assert BIBLE["premise"] in request.prompt_text
        finally:
            kit.close()
