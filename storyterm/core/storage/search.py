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
        """Up to `limit` parts after the first `offset`, best match first (then the newest
        story, then story order)."""
        with self.tx.read() as conn:
            sql, params = self._matches(conn.dialect.name, phrases, ranked=True)
            sql += " AND s.user_id = :uid AND s.deleted_at IS NULL"
            if session_id is not None:
                sql += " AND s.id = :sid"
            sql += " ORDER BY rank, s.updated_at DESC, s.id, p.seq LIMIT :lim OFFSET :off"
            params.update(uid=user_id, sid=session_id, lim=limit, off=offset)
            rows = conn.execute(sa.text(sql), params).all()
            # The texts of this page only: sorting every match with its text would carry
            # thousands of whole parts through the sort for a common word.
            ids = [row.id for row in rows]
            texts: dict[int, str] = {}
            if ids:
                query = sa.select(parts_t.c.id, parts_t.c.content).where(parts_t.c.id.in_(ids))
                texts = {row.id: row.content for row in conn.execute(query)}
        return [Found(r.session_id, r.title, r.seq, texts.get(r.id, "")) for r in rows]

    def seqs(self, user_id: int, session_id: str, phrases: Phrases, limit: int) -> list[int]:
        """The numbers of the parts of one story that match, in story order."""
        with self.tx.read() as conn:
            sql, params = self._matches(conn.dialect.name, phrases, ranked=False)
            sql += " AND s.user_id = :uid AND s.deleted_at IS NULL AND s.id = :sid"
            sql += " ORDER BY p.seq LIMIT :lim"
            params.update(uid=user_id, sid=session_id, lim=limit)
            return [row.seq for row in conn.execute(sa.text(sql), params)]

    @staticmethod
    def _matches(dialect: str, phrases: Phrases, *, ranked: bool) -> tuple[str, dict[str, Any]]:
        """The SELECT ... WHERE <matches> of a search, its terms as bound parameters."""
        columns = "p.id, p.session_id, s.title, p.seq"
        if dialect == "sqlite":
            rank = ", bm25(story_parts_fts) AS rank" if ranked else ""
            sql = (
                f"SELECT {columns}{rank} FROM story_parts_fts "
                "JOIN story_parts p ON p.id = story_parts_fts.rowid "
                "JOIN story_sessions s ON s.id = p.session_id "
                "WHERE story_parts_fts MATCH :q"
            )
            return sql, {"q": fts5_query(phrases)}
        params = {f"q{i}": " ".join(words) for i, words in enumerate(phrases)}
        query = " && ".join(f"phraseto_tsquery('simple'::regconfig, :{name})" for name in params)
        # ts_rank is higher for a better match: negated so that both sort ascending.
        rank = ", -ts_rank(p.search_vector, q.query, 1) AS rank" if ranked else ""
        sql = (
            f"SELECT {columns}{rank} FROM story_parts p "
            "JOIN story_sessions s ON s.id = p.session_id "
            f"CROSS JOIN (SELECT {query} AS query) AS q "
            "WHERE p.search_vector @@ q.query"
        )
        return sql, params
