"""Where an imported story came from, and the session of the same writer that holds that story
already: one imported before (the same text, or another version of it) or the session it was
exported from. The Store looks in the transaction that would write the import."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from storyterm.core.storage.statements import sessions_t
from storyterm.core.storage.tables import User, table_of
from storyterm.errors import AlreadyImported

users_t = table_of(User)


@dataclass(frozen=True)
class ImportSource:
    """A story being imported: the id of the session its file was exported from (None when the
    file gives none) and the fingerprint of its text (see core/export/story_file.py; None for
    a story without parts, which has no text to be known by: two empty stories of one title
    are not the same story)."""

    session_id: str | None
    fingerprint: str | None


class Match(enum.IntEnum):
    """How a session holds the story; the lower, the more it says."""

    SAME_TEXT = 0  # imported before from a file with the same text
    ORIGINAL = 1  # the session the file was exported from
    OTHER_VERSION = 2  # imported before from another export of the same session


@dataclass(frozen=True)
class EarlierCopy:
    """A session of the writer that holds the story being imported."""

    match: Match
    session_id: str
    title: str
    imported_at: datetime | None
    in_trash: bool


def lock_writer(conn: sa.Connection, user_id: int) -> None:
    """Hold the writer's row until the import commits, so two imports of one story at once
    cannot both find no earlier copy. On SQLite the write transaction (BEGIN IMMEDIATE) holds
    the whole database already."""
    if conn.dialect.name != "sqlite":
        conn.execute(sa.select(users_t.c.id).where(users_t.c.id == user_id).with_for_update())


def find_earlier_copy(
    conn: sa.Connection, user_id: int, source: ImportSource
) -> EarlierCopy | None:
    """The writer's session that holds the story already, the most telling one (the same text
    before the original before another version; one outside the trash, then the newest import,
    first); None when there is none. Another writer's sessions never count."""
    s = sessions_t.c
    holds = []
    if source.fingerprint:
        holds.append(s.import_fingerprint == source.fingerprint)
    if source.session_id:
        holds += [s.id == source.session_id, s.imported_from == source.session_id]
    if not holds:
        return None
    rows = conn.execute(
        sa.select(
            s.id, s.title, s.imported_from, s.import_fingerprint, s.imported_at, s.deleted_at
        ).where(s.user_id == user_id, sa.or_(*holds))
    ).all()
    copies = []
    for row in rows:
        same_source = source.session_id is not None and row.imported_from == source.session_id
        # Equal fingerprints; both None (empty stories) only count from the same source.
        if row.import_fingerprint == source.fingerprint and (source.fingerprint or same_source):
            match = Match.SAME_TEXT
        elif row.id == source.session_id:
            match = Match.ORIGINAL
        else:
            match = Match.OTHER_VERSION
        copies.append(
            EarlierCopy(match, row.id, row.title, row.imported_at, row.deleted_at is not None)
        )
    if not copies:
        return None
    return min(
        copies,
        key=lambda c: (c.match, c.in_trash, -(c.imported_at.timestamp() if c.imported_at else 0)),
    )


def already_imported(copy: EarlierCopy) -> AlreadyImported:
    """The refusal: which session holds the story, since when, and how to import it anyway."""
    short = copy.session_id[:8]
    named = f"session {short} '{copy.title}'"
    when = f" (imported {copy.imported_at:%Y-%m-%d})" if copy.imported_at else ""
    if copy.match is Match.SAME_TEXT:
        what = f"This story was imported before, as {named}{when}."
        anyway = "Import it again as a new session with --again."
    elif copy.match is Match.ORIGINAL:
        what = f"This story is here already: it was exported from {named}."
        anyway = "Import it as a copy, a new session, with --again."
    else:
        what = (
            f"Another version of this story was imported before, as {named}{when}; this file "
            "holds different text."
        )
        anyway = "Import it as a new session with --again."
    trash = (
        f" That session is in the trash: `storyterm restore {short}` brings it back."
        if copy.in_trash
        else ""
    )
    return AlreadyImported(f"{what}{trash} {anyway}", session_id=copy.session_id)
