"""full-text search over the story's parts

Revision ID: 0006_part_search
Revises: 0005_import_source
Create Date: 2026-12-04 14:30:00

A writer searches the text of their stories (core/search.py). What is searched is the story as
it reads: the chosen take of every part, which is the story_parts row (the other takes wait in
part_takes, a part in the trash has left story_parts for trashed_parts, a story in the trash is
filtered out by the query). The index is kept by triggers on story_parts, in the same
transaction as the write, so every path that changes a part (a new part, an edit, choosing a
take, which swaps the row's text, the trash and its restore, undo, an import, a recovery) keeps
it current without knowing of it. Part text is stored as plain text on both databases (0002's
lz4 is PostgreSQL's own column compression, undone by the server before any trigger or
function sees the value), so a trigger indexes exactly what the story holds.

A part being written (state 'streaming') is left out of the index: it is rewritten whole at
every checkpoint, about once a second, and indexing it each time would make saving cost grow
with the part. It is indexed when it ends (done or interrupted), by the same triggers.

- SQLite: an FTS5 table over story_parts.content (external content: the text is not stored
  twice), tokenizer unicode61 keeping diacritics, as PostgreSQL's 'simple' configuration does.
- PostgreSQL: a tsvector column (to_tsvector('simple', content), no stemming or stop words,
  so any language's words are found as written) with a GIN index. A part whose words would
  pass tsvector's 1 MB limit is indexed by its first 100,000 characters rather than failing
  the save.

Existing parts are indexed by the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_part_search"
down_revision: str | Sequence[str] | None = "0005_import_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE story_parts_fts USING fts5(content, content='story_parts', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    """CREATE TRIGGER story_parts_fts_insert AFTER INSERT ON story_parts
    WHEN new.state <> 'streaming' BEGIN
        INSERT INTO story_parts_fts (rowid, content) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER story_parts_fts_delete AFTER DELETE ON story_parts
    WHEN old.state <> 'streaming' BEGIN
        INSERT INTO story_parts_fts (story_parts_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
    END""",
    # One trigger, so that the old text leaves the index before the new one enters it.
    """CREATE TRIGGER story_parts_fts_update AFTER UPDATE OF content, state ON story_parts
    WHEN old.state <> 'streaming' OR new.state <> 'streaming' BEGIN
        INSERT INTO story_parts_fts (story_parts_fts, rowid, content)
        SELECT 'delete', old.id, old.content WHERE old.state <> 'streaming';
        INSERT INTO story_parts_fts (rowid, content)
        SELECT new.id, new.content WHERE new.state <> 'streaming';
    END""",
    "INSERT INTO story_parts_fts (rowid, content) "
    "SELECT id, content FROM story_parts WHERE state <> 'streaming'",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS story_parts_fts_update",
    "DROP TRIGGER IF EXISTS story_parts_fts_delete",
    "DROP TRIGGER IF EXISTS story_parts_fts_insert",
    "DROP TABLE IF EXISTS story_parts_fts",
]

_POSTGRES_UP = [
    "ALTER TABLE story_parts ADD COLUMN search_vector tsvector",
    """CREATE FUNCTION story_parts_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.state = 'streaming' THEN
            NEW.search_vector := NULL;
        ELSE
            BEGIN
                NEW.search_vector := to_tsvector('simple'::regconfig, NEW.content);
            EXCEPTION WHEN program_limit_exceeded THEN
                NEW.search_vector := to_tsvector('simple'::regconfig, left(NEW.content, 100000));
            END;
        END IF;
        RETURN NEW;
    END
    $$""",
    """CREATE TRIGGER story_parts_search BEFORE INSERT OR UPDATE OF content, state
    ON story_parts FOR EACH ROW EXECUTE FUNCTION story_parts_search_vector()""",
    # Fires the trigger for every finished part: the backfill.
    "UPDATE story_parts SET state = state WHERE state <> 'streaming'",
    "CREATE INDEX ix_story_parts_search ON story_parts USING gin (search_vector)",
]

_POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_story_parts_search",
    "DROP TRIGGER IF EXISTS story_parts_search ON story_parts",
    "DROP FUNCTION IF EXISTS story_parts_search_vector()",
    "ALTER TABLE story_parts DROP COLUMN IF EXISTS search_vector",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(_SQLITE_UP)
    else:
        _run(_POSTGRES_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(_SQLITE_DOWN)
    else:
        _run(_POSTGRES_DOWN)
