"""Searching inside stories, on SQLite and PostgreSQL: a writer finds a word wherever it is in
their own stories, the results follow every change to the story, and no search of any shape
gives anything but results or a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storyterm.core.basics import PartState
from storyterm.core.export.exporter import export_session
from storyterm.core.export.story_file import import_story
from storyterm.core.search import MAX_QUERY, NOTHING_TO_SEARCH, parse_query, snippet
from storyterm.core.storage.statements import parts_t
from storyterm.errors import InvalidInput, NotFound
from tests.core.test_history import Desk
from tests.helpers import make_user


@pytest.fixture
def desk(database_url: str) -> Iterator[Desk]:
    d = Desk(database_url)
    yield d
    d.store.close()


def _found(desk: Desk, query: str, user: int | None = None, **kwargs: object) -> list[tuple]:
    results = desk.sessions.searching.search(desk.alice if user is None else user, query, **kwargs)
    return [(hit.title, hit.seq) for hit in results.hits]


def _marked(desk: Desk, query: str) -> list[str]:
    hit = desk.sessions.searching.search(desk.alice, query).hits[0]
    return [piece.text for piece in hit.snippet if piece.match]


def test_a_word_written_900_parts_ago_is_found_and_nothing_of_another_writer(desk: Desk) -> None:
    sid = desk.story("The keeper hid the quillfeather under the lantern.")
    rows = [
        {"session_id": sid, "seq": seq, "direction": "", "content": f"Rain fell on part {seq}."}
        for seq in range(2, 902)
    ]
    with desk.store.engine.begin() as conn:
        conn.execute(parts_t.insert(), rows)
    bob = make_user(desk.store, "bob")
    other = desk.sessions.start(bob, "Bob's Secret")
    desk.sessions.append_part(bob, other.id, direction="", content="Bob's own quillfeather.")

    assert _found(desk, "quillfeather") == [("The Lighthouse", 1)]
    assert _marked(desk, "QUILLFEATHER") == ["quillfeather"]
    assert _found(desk, "quillfeather", user=bob) == [("Bob's Secret", 1)]
    with pytest.raises(NotFound):
        desk.sessions.searching.search(bob, "quillfeather", session_id=sid)
    assert _found(desk, "part 900") == [("The Lighthouse", 900)]


def test_results_follow_edits_takes_and_the_trash(desk: Desk) -> None:
    sid = desk.story("A gull over the harbour.", "The storm broke the mast.")
    assert _found(desk, "storm") == [("The Lighthouse", 2)]

    desk.history.edit(desk.alice, sid, 2, content="The squall broke the mast.")
    assert _found(desk, "storm") == []
    assert _found(desk, "squall") == [("The Lighthouse", 2)]

    desk.history.choose(desk.alice, sid, 2, 1)  # the first take is the story again
    assert _found(desk, "storm") == [("The Lighthouse", 2)]
    assert _found(desk, "squall") == []

    trash_id = desk.history.delete_part(desk.alice, sid, 1)
    assert _found(desk, "gull") == []
    assert _found(desk, "storm") == [("The Lighthouse", 1)]  # it moved up
    desk.history.restore_part(desk.alice, trash_id)
    assert _found(desk, "gull") == [("The Lighthouse", 1)]

    desk.sessions.delete(desk.alice, sid)
    assert _found(desk, "gull") == []
    desk.history.restore(desk.alice, sid)
    assert _found(desk, "gull") == [("The Lighthouse", 1)]
    desk.history.undo(desk.alice, sid)  # the restore
    desk.history.delete_forever(desk.alice, sid)
    assert _found(desk, "gull") == []
    _index_matches_the_parts(desk)


def _index_matches_the_parts(desk: Desk) -> None:
    """SQLite's FTS5 checks its index against story_parts (it raises when they differ)."""
    if desk.store.backend == "sqlite":
        with desk.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO story_parts_fts (story_parts_fts, rank) VALUES ('integrity-check', 1)"
            )


def test_a_part_is_found_once_it_is_written_not_while_it_streams(desk: Desk) -> None:
    sid = desk.story()
    part = desk.sessions.begin_part(desk.alice, sid, direction="go", model_name=None)
    desk.sessions.checkpoint_part(desk.alice, sid, part.seq, "The tide turned")
    assert _found(desk, "tide") == []
    desk.sessions.checkpoint_part(
        desk.alice, sid, part.seq, "The tide turned at dawn.", state=PartState.DONE
    )
    assert _found(desk, "dawn") == [("The Lighthouse", 1)]


def test_an_imported_story_is_searchable(desk: Desk, tmp_path: Path) -> None:
    sid = desk.story("The marigold letter.")
    result = export_session(desk.sessions, desk.alice, sid, out_dir=tmp_path, formats=("json",))
    desk.sessions.delete(desk.alice, sid)
    desk.history.delete_forever(desk.alice, sid)
    assert _found(desk, "marigold") == []
    import_story(desk.sessions, desk.alice, result.folder)
    assert _found(desk, "marigold") == [("The Lighthouse", 1)]


def test_ranking_paging_and_a_phrase(desk: Desk) -> None:
    parts = [f"Part {n} of the voyage." for n in range(1, 8)]
    desk.story(*parts, "Voyage, voyage, the long voyage.")
    first = desk.sessions.searching.search(desk.alice, "voyage", limit=3)
    assert first.hits[0].seq == 8  # it says it most
    assert first.next_offset == 3
    rest = desk.sessions.searching.search(desk.alice, "voyage", limit=10, offset=3)
    assert rest.next_offset is None
    assert len({h.seq for h in first.hits} | {h.seq for h in rest.hits}) == 8
    assert _found(desk, '"of the voyage" "part 3"') == [("The Lighthouse", 3)]
    assert _found(desk, '"voyage of"') == []


def test_find_in_story_lists_matching_parts_in_order(desk: Desk) -> None:
    sid = desk.story("owl", "no", "an owl", "owls", "OWL!")
    assert desk.sessions.searching.find_in_story(desk.alice, sid, "owl") == [1, 3, 5]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unclosed phrase',
        'a" b "c',
        "NEAR(a b)",
        "a NEAR b",
        "lamp*",
        "*",
        "-lamp",
        "lamp OR keeper",
        "lamp AND NOT keeper",
        "content:lamp",
        "{content}: lamp",
        "lamp ^ keeper",
        "'; DROP TABLE story_parts; --",
        "\\",
        "&|!<->():*",
        "lámpa 灯台 лампа",
        "\U0001f56f️ lamp",
        "lamp\x00keeper",
        "\ud800 lamp",
        "_",
    ],
)
def test_hostile_queries_give_results_or_a_clear_message(desk: Desk, query: str) -> None:
    desk.story("The lamp of the keeper: lámpa, 灯台, лампа.")
    try:
        results = desk.sessions.searching.search(desk.alice, query)
    except InvalidInput as exc:
        assert str(exc) == NOTHING_TO_SEARCH
    else:
        assert all(hit.title == "The Lighthouse" for hit in results.hits)
    assert desk.contents(desk.sessions.list(desk.alice).items[0].id)  # the story is intact


def test_operators_are_words_not_commands(desk: Desk) -> None:
    desk.story("lamp keeper", "lamp alone", "They walked NEAR the pier.")
    assert _found(desk, "-keeper lamp") == [("The Lighthouse", 1)]  # "-" only separates
    assert _found(desk, "NEAR") == [("The Lighthouse", 3)]
    assert _found(desk, "lamp*") != []  # the * is not a prefix search, just punctuation
    assert _found(desk, "lam*") == []


def test_empty_long_and_wrong_queries_are_refused_clearly(desk: Desk) -> None:
    for query in ("", "   ", "!!! ... ---", '""'):
        with pytest.raises(InvalidInput, match="Nothing to search for"):
            desk.sessions.searching.search(desk.alice, query)
    with pytest.raises(InvalidInput, match=f"keep it to {MAX_QUERY}"):
        desk.sessions.searching.search(desk.alice, "lamp " * 2000)
    assert _found(desk, "a " * 250) == []  # as many words as 500 characters hold
    with pytest.raises(InvalidInput, match="must be text"):
        desk.sessions.searching.search(desk.alice, None)
    with pytest.raises(InvalidInput, match="from 1 to 200"):
        desk.sessions.searching.search(desk.alice, "lamp", limit=0)


def test_the_index_survives_a_part_too_big_for_postgres_tsvector(desk: Desk) -> None:
    """Distinct words past tsvector's 1 MB: the save still works; the start is searchable."""
    words = " ".join(f"w{n:07d}x" for n in range(100_000))  # ~1,000,000 characters
    sid = desk.story("first")
    desk.sessions.append_part(desk.alice, sid, direction="", content=words[:999_000])
    assert _found(desk, "w0000001x") == [("The Lighthouse", 2)]
    with desk.store.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.length(parts_t.c.content))).scalars().all()
    assert max(stored) == 999_000


def test_parse_query_keeps_phrases_and_drops_syntax() -> None:
    assert parse_query('Mara "the old  keeper" well-known*') == [
        ["mara"],
        ["the", "old", "keeper"],
        ["well", "known"],
    ]


def test_snippet_marks_the_words_and_cuts_at_words() -> None:
    text = ("word " * 40) + "the Keeper\nwaited;\x1b[31m keeper " + ("tail " * 60)
    pieces = snippet(text, [["keeper"]])
    assert pieces[0].text.startswith("…word ") and pieces[-1].text.endswith(" tail…")
    assert [p.text for p in pieces if p.match] == ["Keeper", "keeper"]
    joined = "".join(p.text for p in pieces)
    assert "\n" not in joined and "\x1b[31m" in joined  # data: the front ends make it safe


def test_one_story_is_searched_in_story_order(desk: Desk) -> None:
    sid = desk.story("owl", "owl owl owl", "an owl")
    desk.story("owl owl")  # another story: not in this one's results
    hits = desk.sessions.searching.search(desk.alice, "owl", session_id=sid).hits
    assert [(h.session_id, h.seq) for h in hits] == [(sid, 1), (sid, 2), (sid, 3)]


def test_a_common_word_ranks_the_newest_matches(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CANDIDATES matches, the best of the newest are listed (ranking thousands of parts
    holding an everyday word is slow and tells a writer little)."""
    monkeypatch.setattr("storyterm.core.storage.search.CANDIDATES", 3)
    desk.story("tide tide tide", "tide", "tide and sand", "the tide", "tide, tide")
    results = desk.sessions.searching.search(desk.alice, "tide")
    assert sorted(h.seq for h in results.hits) == [3, 4, 5]
    assert results.hits[0].seq == 5 and results.next_offset is None
