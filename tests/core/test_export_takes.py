"""Takes in an export: story.json keeps every take of every part and which one is chosen, an
import brings them all back, and the reading formats (Markdown, text, EPUB) hold the chosen
takes only. A story.json from before takes still imports."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.basics import PartState, TakeKind
from storyterm.core.export import export_session, import_story
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.errors import InvalidInput
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def _regenerate(service: SessionService, user: int, sid: str, seq: int, text: str) -> None:
    """A regenerate as the storyteller does it: a new streaming take, then its text."""
    service.history.history.takes.new_take(
        user, sid, seq, kind=TakeKind.GENERATED, content="", state=PartState.STREAMING
    )
    service.checkpoint_part(user, sid, seq, text, state=PartState.DONE)


def a_story_with_takes(service: SessionService, user: int) -> str:
    """Part 1: three takes, the first one chosen again. Part 2: edited (take 2 of 2, made from
    take 1). Part 3: one take."""
    sid = service.start(user, "The Keeper's Letter", {"genre": "mystery"}, "gemma3:latest").id
    for n, text in enumerate(("The lamp was lit.", "A ship came in.", "Dawn."), start=1):
        service.append_part(user, sid, direction=f"step {n}", content=text)
    _regenerate(service, user, sid, 1, "The lamp would not light at all.")
    _regenerate(service, user, sid, 1, "Fog rolled over the rock.")
    service.history.choose(user, sid, 1, 1)
    service.history.edit(user, sid, 2, content="A black ship came in.", direction="darker")
    return sid


def takes_of(service: SessionService, user: int, sid: str) -> list[list[tuple[Any, ...]]]:
    """Every take of every part, as a writer would compare them."""
    return [
        [
            (
                t.number,
                t.kind,
                t.take_from,
                t.chosen,
                t.direction,
                t.content,
                t.state,
                t.word_count,
                t.created_at,
            )
            for t in service.history.takes(user, sid, part.seq)
        ]
        for part in service.all_parts(user, sid)
    ]


def test_every_take_and_the_choice_survive_export_and_import(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    sid = a_story_with_takes(service, alice)
    result = export_session(service, alice, sid, out_dir=tmp_path, formats="all")
    data = json.loads((result.folder / "story.json").read_text())
    first, second, third = data["parts"]
    assert (first["take"], first["take_kind"], first["content"]) == (
        1,
        "generated",
        "The lamp was lit.",
    )
    assert [(t["number"], t["kind"], t["content"]) for t in first["takes"]] == [
        (2, "generated", "The lamp would not light at all."),
        (3, "generated", "Fog rolled over the rock."),
    ]
    assert (second["take"], second["take_kind"], second["take_from"]) == (2, "edited", 1)
    assert [(t["number"], t["content"], t["direction"]) for t in second["takes"]] == [
        (1, "A ship came in.", "step 2")
    ]
    assert (third["take"], third["takes"]) == (1, [])

    copy = import_story(service, alice, result.folder, again=True)  # beside its original
    assert takes_of(service, alice, copy.id) == takes_of(service, alice, sid)
    parts = service.all_parts(alice, copy.id)
    assert [(p.take, p.takes, p.take_kind) for p in parts] == [
        (1, 3, TakeKind.GENERATED),
        (2, 2, TakeKind.EDITED),
        (1, 1, TakeKind.GENERATED),
    ]
    assert copy.word_count == service.get(alice, sid).word_count
    # The takes are the copy's own: flipping one there leaves the original as it was.
    assert service.history.choose(alice, copy.id, 1, 3).content == "Fog rolled over the rock."
    assert service.all_parts(alice, sid)[0].content == "The lamp was lit."


def test_the_reading_formats_hold_the_chosen_takes_only(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    sid = a_story_with_takes(service, alice)
    folder = export_session(service, alice, sid, out_dir=tmp_path, formats="all").folder
    with zipfile.ZipFile(folder / "story.epub") as epub:
        book = " ".join(epub.read(n).decode() for n in epub.namelist() if n.endswith("html"))
    for text in (
        (folder / "story.md").read_text(),
        (folder / "story.txt").read_text(),
        (folder / "part-001.md").read_text() + (folder / "part-002.md").read_text(),
        book,
    ):
        assert "The lamp was lit." in text and "A black ship came in." in text
        for unchosen in ("would not light", "Fog rolled", "A ship came in."):
            assert unchosen not in text


def test_an_old_story_json_without_takes_imports_as_first_takes(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    path = tmp_path / "story.json"
    path.write_text(
        json.dumps(
            {
                "format": "storyterm-story",
                "version": 1,
                "session": {"title": "Before Takes"},
                "parts": [
                    {"seq": 1, "content": "Only text.", "state": "done"},
                    {"seq": 2, "content": "More text.", "direction": "go on"},
                ],
            }
        )
    )
    copy = import_story(service, alice, path)
    for part in service.all_parts(alice, copy.id):
        assert (part.take, part.takes, part.take_kind, part.take_from) == (
            1,
            1,
            TakeKind.GENERATED,
            None,
        )
        [take] = service.history.takes(alice, copy.id, part.seq)
        assert take.chosen and take.content == part.content
    # A story from an old file gets takes like any other.
    edited = service.history.edit(alice, copy.id, 2, content="Other text.")
    assert (edited.take, edited.takes) == (2, 2)


def test_a_take_still_streaming_in_the_file_comes_back_interrupted(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    path = tmp_path / "story.json"
    part = {"seq": 1, "content": "Chosen.", "take": 1, "takes": []}
    part["takes"] = [{"number": 2, "kind": "generated", "content": "Half a", "state": "streaming"}]
    path.write_text(
        json.dumps(
            {"format": "storyterm-story", "version": 1, "session": {"title": "T"}, "parts": [part]}
        )
    )
    copy = import_story(service, alice, path)
    [_, second] = service.history.takes(alice, copy.id, 1)
    assert (second.number, second.state, second.content) == (2, PartState.INTERRUPTED, "Half a")


def _file_with(**part: Any) -> dict[str, Any]:
    return {
        "format": "storyterm-story",
        "version": 1,
        "session": {"title": "Damaged"},
        "parts": [{"seq": 1, "content": "Chosen text.", **part}],
    }


def _take(number: Any, **fields: Any) -> dict[str, Any]:
    return {"number": number, "content": f"Take {number}.", **fields}


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"takes": "all of them"}, r"part 1, field 'takes': must be a list of takes, not \"all"),
        ({"takes": [_take(1)]}, r"must be numbered 1 to 2 .* each once, not 1, 1"),
        ({"take": 3, "takes": [_take(1)]}, r"must be numbered 1 to 2 .* not 1, 3"),
        ({"take": 2}, r"must be numbered 1 to 1 .* not 2"),
        ({"take": 0}, r"part 1, field 'take': must be a whole number from 1"),
        ({"take": "2"}, r"part 1, field 'take': must be a whole number from 1"),
        ({"take_kind": "rewritten"}, r"field 'take_kind': must be one of 'generated'"),
        (
            {"takes": [{"content": "no number"}]},
            r"take 1 in its 'takes', field 'number': is missing",
        ),
        ({"takes": [_take(2, kind=7)]}, r"take 1 in its 'takes', field 'kind': must be one of"),
        (
            {"takes": [_take(2, content=None)]},
            r"take 1 in its 'takes', field 'content': is missing",
        ),
        ({"takes": [_take(2, state="lost")]}, r"take 1 in its 'takes', field 'state'"),
        ({"takes": ["text"]}, r"take 1 in its 'takes': must be an object, not \"text\""),
        ({"takes": [_take(2, take_from=9)]}, r"made from take 9, which the part does not have"),
        ({"take_from": 0}, r"field 'take_from': must be a whole number from 1"),
    ],
)
def test_damaged_takes_are_refused_with_what_is_wrong_and_nothing_is_written(
    service: SessionService, tmp_path: Path, part: dict[str, Any], message: str
) -> None:
    alice = make_user(service.store, "alice")
    path = tmp_path / "story.json"
    path.write_text(json.dumps(_file_with(**part)))
    with pytest.raises(InvalidInput, match=message) as caught:
        import_story(service, alice, path)
    assert caught.value.message.startswith(f"{path} is damaged: ")
    assert service.count(alice) == 0
