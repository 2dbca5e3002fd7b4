"""The full-text index's queries: the writer's parts (their chosen takes, none in the trash)
that hold every term of a search, best first, on SQLite (FTS5) and PostgreSQL (tsvector).

The index itself is kept by triggers on story_parts (migrations/versions/0006_part_search.py
says why triggers); nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from storyterm.core.storage.statements import parts_t
from storyterm.core.storage.transactions import Transactions

#: The index's own objects, which the models do not declare (so schema comparisons skip them):
#: SQLite's FTS5 table and its shadow tables, PostgreSQL's column and its index.
INDEX_TABLE_PREFIX = "story_parts_fts"
INDEX_COLUMN = "search_vector"
INDEX_NAME = "ix_story_parts_search"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: leave the search index out of autogenerate and schema comparisons."""
    if not reflected or name is None:
        return True
    if type_ == "table" and name.startswith(INDEX_TABLE_PREFIX):
        return False
    return not (
        (type_ == "column" and name == INDEX_COLUMN) or (type_ == "index" and name == INDEX_NAME)
    )


@dataclass(frozen=True)
class Found:
    """A part the index found: where it is, and its text (for the snippet)."""

    session_id: str
    title: str
    seq: int
    content: str


#: A phrase: its words, lower case, in order. A search is one or more phrases, all required.
Phrases = Sequence[Sequence[str]]


def fts5_query(phrases: Phrases) -> str:
    """An FTS5 query holding only quoted strings of word characters: nothing a writer types
    can become FTS5 syntax (NEAR, *, -, column filters), since the words were cut out of it."""
    return " ".join('"' + " ".join(words) + '"' for words in phrases)


#: A search of every story ranks the writer's newest this many matching parts (those
#: holding a common word can be thousands; ranking them all took ~100 ms on the benchmark's
#: library, bench/RESULTS.md). A search with fewer matches ranks them all. (PostgreSQL takes
#: the newest parts holding every word, then keeps those where its phrases stand together.)
CANDIDATES = 1000


class PartSearch:
    """Searches one database's full-text index, a writer's stories only."""

    def __init__(self, tx: Transactions) -> None:
        self.tx = tx

    def search(
        self,
        user_id: int,
        phrases: Phrases,
        *,
        session_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Found]:
        """Up to `limit` parts after the first `offset`: of every story, best match first
        (then the newest story, then story order); of one story (`session_id`), in story
        order."""
        params: dict[str, Any] = {"uid": user_id, "sid": session_id, "lim": limit, "off": offset}
        with self.tx.read() as conn:
            dialect = conn.dialect.name
            if session_id is None:
                sql = _ranked(dialect, phrases, params)
            else:
                sql = _in_story(dialect, phrases, params) + " LIMIT :lim OFFSET :off"
            rows = conn.execute(sa.text(sql), params).all()
            # The texts of this page only, for the snippets.
            ids = [row.id for row in rows]
            texts: dict[int, str] = {}
            if ids:
                query = sa.select(parts_t.c.id, parts_t.c.content).where(parts_t.c.id.in_(ids))
                texts = {row.id: row.content for row in conn.execute(query)}
        return [Found(r.session_id, r.title, r.seq, texts.get(r.id, "")) for r in rows]

    def seqs(self, user_id: int, session_id: str, phrases: Phrases, limit: int) -> list[int]:
        """The numbers of the parts of one story that match, in story order."""
        params: dict[str, Any] = {"uid": user_id, "sid": session_id, "lim": limit}
        with self.tx.read() as conn:
            sql = _in_story(conn.dialect.name, phrases, params) + " LIMIT :lim"
            return [row.seq for row in conn.execute(sa.text(sql), params)]


def _tsquery(phrases: Phrases, params: dict[str, Any]) -> str:
    """PostgreSQL: every phrase, all required, each a bound parameter."""
    names = []
    for i, words in enumerate(phrases):
        params[f"q{i}"] = " ".join(words)
        names.append(f"phraseto_tsquery('simple'::regconfig, :q{i})")
    return " && ".join(names)


_MINE = "s.user_id = :uid AND s.deleted_at IS NULL"


def _ranked(dialect: str, phrases: Phrases, params: dict[str, Any]) -> str:
    """The writer's newest CANDIDATES matching parts, best first (bm25 on SQLite, ts_rank
    on PostgreSQL, both favouring a short part that says it often)."""
    params["cand"] = CANDIDATES
    order = "ORDER BY rank, updated_at DESC, session_id, seq LIMIT :lim OFFSET :off"
    if dialect == "sqlite":
        params["q"] = fts5_query(phrases)
        # CROSS JOIN keeps the index outermost, read newest first (rowid order, no sort).
        return (
            "SELECT id, session_id, title, seq FROM ("
            "SELECT p.id, p.session_id, s.title, p.seq, s.updated_at, "
            "bm25(story_parts_fts) AS rank FROM story_parts_fts "
            "CROSS JOIN story_parts p ON p.id = story_parts_fts.rowid "
            "CROSS JOIN story_sessions s ON s.id = p.session_id "
            f"WHERE story_parts_fts MATCH :q AND {_MINE} "
            f"ORDER BY story_parts_fts.rowid DESC LIMIT :cand) AS c {order}"
        )
    query = _tsquery(phrases, params)
    params["words"] = " ".join(w for words in phrases for w in words)
    # The candidates hold every word (the index answers that alone); whether a phrase's words
    # stand together is checked on the candidates only: checking it on every part holding
    # two everyday words read thousands of them (~180 ms on the benchmark's library).
    phrase = any(len(words) > 1 for words in phrases)
    together = f"WHERE c.search_vector @@ ({query}) " if phrase else ""
    # ts_rank is higher for a better match: negated, so that both sort ascending. It runs
    # outside the LIMIT, on the candidates alone.
    return (
        "SELECT id, session_id, title, seq, "
        f"-ts_rank(c.search_vector, {query}, 1) AS rank FROM ("
        "SELECT p.id, p.session_id, s.title, p.seq, s.updated_at, p.search_vector "
        "FROM story_parts p JOIN story_sessions s ON s.id = p.session_id "
        "WHERE p.search_vector @@ plainto_tsquery('simple'::regconfig, :words) "
        f"AND {_MINE} ORDER BY p.id DESC LIMIT :cand) AS c {together}{order}"
    )


def _in_story(dialect: str, phrases: Phrases, params: dict[str, Any]) -> str:
    """One story's matching parts, in story order."""
    if dialect == "sqlite":
        params["q"] = fts5_query(phrases)
        # The matches' ids once (a set), then the story's parts checked against it: matching
        # each part on its own costs ~0.15 ms a part.
        match = "p.id IN (SELECT rowid FROM story_parts_fts WHERE story_parts_fts MATCH :q)"
    else:
        match = f"p.search_vector @@ ({_tsquery(phrases, params)})"
    return (
        "SELECT p.id, p.session_id, s.title, p.seq FROM story_parts p "
        "JOIN story_sessions s ON s.id = p.session_id "
        f"WHERE p.session_id = :sid AND {_MINE} AND {match} ORDER BY p.seq"
    )
