"""The store's SQL: handles on the tables it writes, and the write path's statements,
built once per dialect."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from storyterm.core.storage.tables import (
    PartTake,
    StoryChange,
    StoryPart,
    StorySession,
    TrashedPart,
    table_of,
)

sessions_t = table_of(StorySession)
parts_t = table_of(StoryPart)
takes_t = table_of(PartTake)
trash_t = table_of(TrashedPart)
changes_t = table_of(StoryChange)


class Statements:
    """The write path's statements, built once per dialect with bound parameters.

    Building a Core statement and its cache key costs more Python than running it on SQLite
    (about half of a checkpoint, bench/FINDINGS.md), so the calls every save makes reuse
    these: their cache keys are computed once and their compiled forms come from the engine's
    cache. The parameters are named b_* so they never collide with the column names an
    update's SET takes from the execution parameters.
    """

    def __init__(self, dialect: str) -> None:
        pg = dialect == "postgresql"
        s, p = sessions_t.c, parts_t.c
        this_session = (s.id == sa.bindparam("b_sid"), s.user_id == sa.bindparam("b_uid"))
        lock = sa.select(sessions_t).where(*this_session)
        #: The session row, read as it is (a story's every read and ownership check).
        self.read_session = lock
        #: The session row, write-locked (SQLite holds the lock from BEGIN IMMEDIATE).
        self.lock_session = lock.with_for_update() if pg else lock
        self.session_columns = len(sessions_t.c)
        # The session row and one of its parts in one statement (a checkpoint's first step);
        # the part's text only when the caller needs it back.
        on_part = sa.and_(p.session_id == s.id, p.seq == sa.bindparam("b_seq"))
        self.lock_session_and_part = {}
        for with_content in (False, True):
            columns = [c for c in parts_t.c if with_content or c.name != "content"]
            query = (
                sa.select(sessions_t, *columns)
                .select_from(sessions_t.outerjoin(parts_t, on_part))
                .where(*this_session)
            )
            self.lock_session_and_part[with_content] = (
                query.with_for_update(of=sessions_t) if pg else query,
                [c.name for c in columns],
            )
        #: A page of parts before seq b_seq, newest first, of a session that is the writer's
        #: and not in the trash (the ownership check in the same statement).
        self.parts_before = (
            sa.select(parts_t)
            .join(sessions_t, s.id == p.session_id)
            .where(
                p.session_id == sa.bindparam("b_sid"),
                s.user_id == sa.bindparam("b_uid"),
                s.deleted_at.is_(None),
                p.seq < sa.bindparam("b_seq"),
            )
            .order_by(p.seq.desc())
            .limit(sa.bindparam("b_limit"))
        )
        #: SET columns come from the execution parameters.
        self.insert_part = parts_t.insert().returning(p.id)
        self.update_part = parts_t.update().where(p.id == sa.bindparam("b_pid"))
        self.bump_session = sessions_t.update().where(
            s.id == sa.bindparam("b_sid"), s.version == sa.bindparam("b_version")
        )
        #: PostgreSQL takes a part's rewrite and the session's bump in one statement (one
        #: round trip less per checkpoint); SQLite has no round trips to save.
        self.merges_part_and_bump = pg
        self._part_and_bump: dict[tuple[tuple[str, ...], tuple[str, ...]], sa.Update] = {}

    def part_and_bump(self, part_keys: tuple[str, ...], session_keys: tuple[str, ...]) -> sa.Update:
        """`UPDATE` of the session (as bump_session) with the part's (b_pid) in a WITH: the
        parameters are p_<column> for the part and s_<column> for the session."""
        key = (part_keys, session_keys)
        stmt = self._part_and_bump.get(key)
        if stmt is None:
            s, p = sessions_t.c, parts_t.c
            part = (
                parts_t.update()
                .where(p.id == sa.bindparam("b_pid"))
                .values({k: sa.bindparam(f"p_{k}") for k in part_keys})
                .returning(p.id)
                .cte("written_part")
            )
            stmt = (
                sessions_t.update()
                .where(s.id == sa.bindparam("b_sid"), s.version == sa.bindparam("b_version"))
                .values({k: sa.bindparam(f"s_{k}") for k in session_keys})
                .add_cte(part)
            )
            self._part_and_bump[key] = stmt
        return stmt


@functools.cache
def statements(dialect: str) -> Statements:
    """The statements for `dialect`, built on first use."""
    return Statements(dialect)
