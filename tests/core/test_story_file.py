"""Importing story.json files nobody should trust: each hostile file gets a clear error naming
what is wrong and nothing is written, on SQLite and PostgreSQL; text no database can store is
scrubbed the same way on both; a damaged memory never makes a story that cannot continue."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.export import import_story, story_file
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.errors import InvalidInput
from tests.helpers import make_user

WHEN = "2026-11-03T10:00:00+00:00"


def a_file() -> dict[str, Any]:
    """A small, valid story.json as storyterm writes it."""
    return {
        "format": "storyterm-story",
        "version": 1,
        "generator": "storyterm test",
        "session": {
            "id": "00000000-0000-0000-0000-000000000000",
            "title": "Hostile Harbour",
            "status": "active",
            "model_name": "gemma3:latest",
            "metadata": {"genre": "mystery", "characters": ["Mara"]},
            "memory": {"summary": "Mara found the letter.", "summary_through_seq": 1},
            "created_at": WHEN,
            "updated_at": WHEN,
            "paused_at": None,
            "completed_at": None,
        },
        "parts": [
            {
                "seq": n,
                "direction": f"step {n}",
                "content": f"Part {n} of the tale.",
                "model_name": "gemma3:latest",
                "state": "done",
                "word_count": 5,
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "created_at": WHEN,
                "updated_at": WHEN,
            }
            for n in (1, 2)
        ],
        "totals": {"parts": 2, "words": 10},
    }


def changed(change: Callable[[dict[str, Any]], Any]) -> bytes:
    data = a_file()
    change(data)
    return json.dumps(data).encode()


def session_set(**fields: Any) -> bytes:
    return changed(lambda d: d["session"].update(fields))


def part_set(**fields: Any) -> bytes:
    return changed(lambda d: d["parts"][1].update(fields))


HEAD = b'{"format": "storyterm-story", "version": 1, "session": '
#: (name, file content, what the error must say). Every one is refused before anything is
#: written; none may surface as anything but InvalidInput.
HOSTILE: list[tuple[str, bytes, str]] = [
    # -- not a story file at all
    ("empty", b"", "not a storyterm export .it is not JSON"),
    ("not utf-8", b'{"title": "\xff\xfe"}', "not UTF-8 text"),
    ("utf-16", '{"format": "storyterm-story"}'.encode("utf-16"), "not UTF-8"),
    ("not json", b"title: The Keeper", "it is not JSON"),
    ("cut short", HEAD + b'{"title": "The Kee', r"damaged .broken JSON at line 1"),
    ("a list", b"[1, 2, 3]", 'no "format": "storyterm-story" marker'),
    ("no marker", json.dumps({"session": {}, "parts": []}).encode(), "no .format"),
    ("nested 100k deep", HEAD + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested more than 16"),
    ("nested 100k deep, objects", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "not JSON|nested"),
    ("nested 500 deep", HEAD + b"[" * 500 + b"]" * 500 + b"}", "nested more than 16 levels"),
    (
        "nested in memory",
        session_set(memory={"summary": json.loads("[" * 200 + "]" * 200)}),
        "nested more than 16 levels",
    ),
    ("5000-digit number", HEAD + b"1" * 5000 + b"}", "a number thousands of digits long"),
    # -- the envelope
    ("version 2**63", changed(lambda d: d.update(version=2**63)), "format version .* not valid"),
    ("version true", changed(lambda d: d.update(version=True)), r"format version \(true\)"),
    ("version newer", changed(lambda d: d.update(version=2)), "written by a newer storyterm"),
    ("no session", changed(lambda d: d.pop("session")), 'field "session": is missing'),
    ("session text", changed(lambda d: d.update(session="x")), '"session": must be an object'),
    ("no parts", changed(lambda d: d.pop("parts")), 'field "parts": is missing'),
    ("parts object", changed(lambda d: d.update(parts={})), '"parts": must be a list'),
    ("part not object", changed(lambda d: d["parts"].append(5)), "part 3: must be an object"),
    ("totals text", changed(lambda d: d.update(totals="2")), '"totals": must be an object'),
    (
        "totals huge",
        changed(lambda d: d["totals"].update(parts=10**30)),
        "totals, field 'parts': must be a whole number from 0 to 2,147,483,647, not a number of 31",
    ),
    ("totals wrong", changed(lambda d: d["totals"].update(parts=3)), "holds 3 parts but holds 2"),
    # -- dates
    (
        "date overflows in UTC",
        session_set(created_at="9999-12-31T23:59:59-05:00"),
        "field 'created_at': .9999-12-31T23:59:59-05:00. is out of range",
    ),
    (
        "date underflows in UTC",
        part_set(created_at="0001-01-01T00:00:00+05:00"),
        "part 2, field 'created_at': .* is out of range",
    ),
    ("year 0", session_set(paused_at="0000-01-01T00:00:00+00:00"), "must be a date like"),
    ("year 9999", part_set(updated_at="9999-06-01T00:00:00+00:00"), "between the years 1900"),
    ("date garbage", session_set(completed_at="yesterday"), "'completed_at': must be a date"),
    ("month 13", part_set(created_at="2026-13-45T00:00:00Z"), "must be a date like 2026-11-03"),
    ("date number", session_set(created_at=1_700_000_000), "must be a date like .*not 1700"),
    ("date object", part_set(updated_at={"$date": 1}), "must be a date like .*not an object"),
    # -- counts
    ("tokens 10**30", part_set(prompt_tokens=10**30), "part 2, field 'prompt_tokens': must be"),
    ("tokens 2**63", part_set(completion_tokens=2**63), "'completion_tokens': must be a whole"),
    ("tokens 2**31", part_set(prompt_tokens=2**31), "from 0 to 2,147,483,647, not 2147483648"),
    ("tokens negative", part_set(prompt_tokens=-5), "'prompt_tokens': must be .* not -5"),
    ("tokens bool", part_set(completion_tokens=True), "not true"),
    ("tokens float", part_set(prompt_tokens=5.0), "not 5.0"),
    ("tokens inf", part_set(prompt_tokens=float("inf")), "not Infinity"),
    ("tokens text", part_set(prompt_tokens="5"), 'not "5"'),
    ("seq bool", changed(lambda d: d["parts"][0].update(seq=True)), "part 1, field 'seq'"),
    ("seq 2**63", changed(lambda d: d["parts"][0].update(seq=2**63)), "'seq': must be a whole"),
    ("seq missing", changed(lambda d: d["parts"][0].pop("seq")), "'seq': is missing"),
    ("seq out of order", changed(lambda d: d["parts"].reverse()), "part 1 in the list says it"),
    # -- text fields of the wrong type or size
    ("title number", session_set(title=5), "field 'title': must be text, not 5"),
    ("title missing", changed(lambda d: d["session"].pop("title")), "'title': is missing"),
    ("title list", session_set(title=["a"]), "'title': must be text, not a list"),
    ("title empty", session_set(title="  "), "needs a title"),
    ("title too long", session_set(title="x" * 300), "keep it to 200"),
    ("title escape", session_set(title="\x1b]0;pwned\x07"), "'title': The title contains cont"),
    ("direction number", part_set(direction=7), "part 2, field 'direction': must be text"),
    ("direction huge", part_set(direction="x" * 5000), "keep it under 4,000"),
    ("content missing", changed(lambda d: d["parts"][0].pop("content")), "'content': is missing"),
    ("content object", part_set(content={"text": "x"}), "'content': must be text, not an object"),
    ("content huge", part_set(content="x" * 1_000_001), "a part can hold at most 1,000,000"),
    ("model number", part_set(model_name=3), "'model_name': must be text"),
    ("model 300 chars", session_set(model_name="m" * 300), "a model name has at most 200"),
    ("part model 300", part_set(model_name="m" * 300), "part 2, field 'model_name': is 300"),
    ("state unknown", part_set(state="exploded"), "'state': must be one of 'streaming'"),
    ("state number", part_set(state=1), "'state': must be one of .*not 1"),
    ("status unknown", session_set(status="archived"), "'status': must be one of 'active'"),
    ("status list", session_set(status=["active"]), "'status': must be one of .* not a list"),
    # -- the story bible (session_metadata) and memory of the wrong shape
    ("metadata text", session_set(metadata="genre: mystery"), "'metadata': must be an object"),
    ("metadata list", session_set(metadata=["x"]), "'metadata': must be an object"),
    ("metadata nested", session_set(metadata={"genre": {"a": 1}}), 'detail "genre" must be'),
    ("metadata list of numbers", session_set(metadata={"cast": [1, 2]}), "must be text, a"),
    ("metadata NaN", session_set(metadata={"age": float("nan")}), "must be a real number"),
    ("metadata no name", session_set(metadata={" ": "x"}), "needs a name"),
    ("metadata too long", session_set(metadata={"premise": "p" * 20_001}), "too long"),
    ("memory text", session_set(memory="summary"), "'memory': must be an object"),
    ("memory list", session_set(memory=[1]), "'memory': must be an object .* not a list"),
]


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


@pytest.mark.parametrize(
    ("content", "message"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_story_files_are_refused_clearly_and_write_nothing(
    service: SessionService, tmp_path: Path, content: bytes, message: str
) -> None:
    alice = make_user(service.store, "alice")
    service.start(alice, "Already here")
    path = tmp_path / "story.json"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message) as caught:
        import_story(service, alice, path)
    text = caught.value.message
    assert text.startswith(str(path)), text
    assert "database" not in text.lower() and "Traceback" not in text
    assert len(text) < 600, text  # a message, not a dump of the file
    assert text.isprintable(), text  # the file's own bytes are quoted escaped
    assert service.count(alice) == 1  # nothing was written


def test_a_file_bigger_than_the_limit_is_refused_unread(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    path = tmp_path / "story.json"
    path.write_bytes(b"")
    os.truncate(path, story_file.MAX_IMPORT_BYTES + 1)  # sparse: nothing is really written
    with pytest.raises(InvalidInput, match="storyterm imports story files of up to 64 MB"):
        import_story(service, alice, path)
    assert service.count(alice) == 0


def test_the_edges_of_every_range_import(service: SessionService, tmp_path: Path) -> None:
    """The largest counts a database column holds and the first and last dates allowed."""
    alice = make_user(service.store, "alice")
    data = a_file()
    data["parts"][0].update(prompt_tokens=2**31 - 1, completion_tokens=0)
    data["parts"][1].update(created_at="1900-01-01T00:00:00+00:00")
    data["parts"][1].update(updated_at="9000-12-31T23:59:59")  # no offset: storyterm writes UTC
    data["session"].update(status="completed", completed_at="2026-11-04T03:00:00-05:00")
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data))
    copy_ = import_story(service, alice, path)
    assert copy_.status is SessionStatus.COMPLETED
    assert copy_.completed_at is not None and copy_.completed_at.isoformat() == (
        "2026-11-04T08:00:00+00:00"
    )
    first, second = service.all_parts(alice, copy_.id)
    assert (first.prompt_tokens, first.completion_tokens) == (2**31 - 1, 0)
    assert second.created_at.year == 1900 and second.updated_at.year == 9000


# -- text no database can store -------------------------------------------------------------

DIRTY = "Nul\x00 and \ud800 broken \udfff"
CLEAN = "Nul\ufffd and \ufffd broken \ufffd"


def test_nul_and_lone_surrogates_import_as_replacement_characters(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    data = a_file()
    data["session"].update(
        title="Title\x00\ud800",
        model_name="gemma\x00:latest",
        metadata={"genre": DIRTY, "key\ud800": ["a\x00", "b"]},
        memory={"summary": DIRTY, "num_ctx_model": "m\ud800", "tokens": {"t\x00": 3}},
    )
    data["parts"][0].update(direction=DIRTY, content=DIRTY, model_name="m\ud800\x00")
    path = tmp_path / "story.json"
    # json.dumps writes them as \u0000 and \ud800 escapes, as an export made on SQLite does.
    path.write_text(json.dumps(data))
    copy_ = import_story(service, alice, path)
    stored = service.get(alice, copy_.id)
    assert stored.title == "Title\ufffd\ufffd"
    assert stored.model_name == "gemma\ufffd:latest"
    assert stored.session_metadata == {"genre": CLEAN, "key\ufffd": ["a\ufffd", "b"]}
    assert stored.memory == {
        "summary": CLEAN,
        "num_ctx_model": "m\ufffd",
        "tokens": {"t\ufffd": 3},
    }
    first, second = service.all_parts(alice, copy_.id)
    assert (first.direction, first.content, first.model_name) == (
        CLEAN,
        CLEAN,
        "m\ufffd\ufffd",
    )
    assert second.content == "Part 2 of the tale."
    # It lists, opens and exports again like any story.
    assert [s.title for s in service.list(alice).items] == [stored.title]


def test_memory_of_the_wrong_shape_keeps_only_what_is_well_formed(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    data = a_file()
    data["session"]["memory"] = {
        "summary": "Mara kept the letter.",
        "summary_through_seq": 1,
        "tokens": 5,
        "token_ratio": float("inf"),
        "num_ctx": 1,
        "num_ctx_model": ["gemma3"],
        "stale": "yes",
        "last_prompt": {"cut": {"x": "y"}},
        "something_else": {"deep": [[[1]]]},
    }
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data))  # Infinity, as Python's json writes it
    copy_ = import_story(service, alice, path)
    assert service.get(alice, copy_.id).memory == {
        "summary": "Mara kept the letter.",
        "summary_through_seq": 1,
    }


def test_an_exported_story_round_trips_its_hostile_text_exactly(
    service: SessionService, tmp_path: Path
) -> None:
    """story.json keeps the exact text: terminal controls survive an export and an import."""
    from storyterm.core.export import export_session

    alice = make_user(service.store, "alice")
    hostile = "\x1b]0;pwned\x07\x1b[2J bell\x07 \u202eevil\u202c tab\there\r\nline"
    # Model names with controls are refused (start and import alike), so they stay plain here.
    s = service.start(alice, "Round Trip", {"genre": hostile, "cast": [hostile]}, "gemma3:latest")
    service.append_part(alice, s.id, direction=hostile, content=hostile, model_name="qwen3:4b")
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats=["json"])
    copy_ = import_story(service, alice, result.folder, again=True)  # beside its original
    original, back = service.get(alice, s.id), service.get(alice, copy_.id)
    assert back.session_metadata == original.session_metadata
    assert back.model_name == original.model_name
    [before] = service.all_parts(alice, s.id)
    [after] = service.all_parts(alice, copy_.id)
    assert (after.direction, after.content, after.model_name) == (
        before.direction,
        before.content,
        before.model_name,
    )
    assert after.content == hostile


# -- an imported story continues --------------------------------------------------------------


async def test_an_import_with_damaged_memory_continues(tmp_path: Path) -> None:
    from storyterm.core.generation.events import Finished
    from storyterm.devtools.fake_ollama import FakeOllama
    from tests.story_helpers import make_kit, text_of

    data = a_file()
    data["session"]["memory"] = {
        "tokens": 5,
        "token_ratio": float("inf"),
        "num_ctx": 1,
        "summary": {"nested": ["garbage"]},
        "summary_through_seq": "2",
        "last_prompt": [1, 2, 3],
    }
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data))
    with FakeOllama(models=["gemma3:latest"], tokens=12) as fake:
        kit = make_kit(tmp_path, fake)
        try:
            story = import_story(kit.sessions, kit.user_id, path)
            assert story.memory == {}
            events = await kit.run(story.id, "Mara opens the door")
            finished = events[-1]
            assert isinstance(finished, Finished), finished
            assert finished.part.seq == 3 and finished.part.state is PartState.DONE
            assert finished.part.content == text_of(events) and finished.part.content
            [part3] = kit.sessions.all_parts(kit.user_id, story.id)[2:]
            assert part3.content == finished.part.content
            assert fake.chat_requests[-1].body["options"]["num_ctx"] >= 512
        finally:
            kit.close()


def test_hostile_files_are_refused_by_the_command_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample through `storyterm import`: exit 1 and the message, never a traceback."""
    from click.testing import CliRunner

    from storyterm.cli import cli
    from tests.helpers import login_as

    login_as(monkeypatch, "mara")
    runner = CliRunner()
    sample = ("nested 100k deep", "5000-digit number", "date overflows in UTC", "tokens 2**63")
    for name, content, _message in HOSTILE:
        if name not in sample:
            continue
        path = tmp_path / f"{name}.json"
        path.write_bytes(content)
        result = runner.invoke(cli, ["import", str(path)])
        assert result.exit_code == 1, (name, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output and str(path) in result.output


def test_the_file_checks_do_not_change_a_valid_file() -> None:
    data = a_file()
    kept = copy.deepcopy(data)
    path_data = story_file._story(data)
    assert data == kept
    assert path_data.title == "Hostile Harbour" and len(path_data.parts) == 2
