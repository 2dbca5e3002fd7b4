"""The tables: users, story_sessions, story_parts and part_takes, the trash and the undo log
(trashed_parts, story_changes), lore_entries, plus app_meta, revoked_tokens and login_attempts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from storyterm.core.basics import PartState, SessionStatus, TakeKind, utcnow

__all__ = ["PartState", "SessionStatus", "TakeKind", "utcnow"]


def new_session_id() -> str:
    return str(uuid.uuid4())


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Table SQLAlchemy made for a `table=True` model, for Core queries. Read from its
    mapper: SQLModel's types do not declare the `__table__` attribute it also has."""
    table = sa.inspect(model).local_table
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on Postgres."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so that ordering by the column is correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _session_id() -> Any:
    """The story a row belongs to (it goes when the story goes for good)."""
    return Field(
        sa_column=sa.Column(
            sa.String(36),
            sa.ForeignKey("story_sessions.id", ondelete="CASCADE"),
            nullable=False,
        )
    )


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    #: casefolded username: usernames are unique regardless of case.
    username_key: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    #: No longer written (failed logins are counted in login_attempts since revision 0003).
    failed_logins: int = Field(default=0)
    last_failed_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)


class StorySession(SQLModel, table=True):
    __tablename__ = "story_sessions"
    __table_args__ = (
        sa.Index("ix_story_sessions_user_status_updated", "user_id", "status", "updated_at"),
        sa.Index("ix_story_sessions_user_updated", "user_id", "updated_at"),
    )

    id: str = Field(default_factory=new_session_id, primary_key=True, max_length=36)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    title: str = Field(max_length=200)
    status: str = Field(default=SessionStatus.ACTIVE.value, max_length=16)
    model_name: str | None = Field(default=None, max_length=200)
    session_metadata: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    memory: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    part_count: int = Field(default=0)
    word_count: int = Field(default=0)
    version: int = Field(default=1)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    paused_at: datetime | None = _ts(default=None)
    completed_at: datetime | None = _ts(default=None)
    #: Set while the story is in the trash (deleted, and restorable until the trash is emptied).
    deleted_at: datetime | None = _ts(default=None)
    #: An imported story: the id of the session its story.json was exported from (as the file
    #: gives it), a fingerprint of its text (core/export/story_file.py: `fingerprint`) and when
    #: it was imported. An import of the same story again is refused unless asked for; a
    #: writer's sessions are found by the user_id indexes, so these need none of their own.
    imported_from: str | None = Field(default=None, max_length=36)
    import_fingerprint: str | None = Field(default=None, max_length=64)
    imported_at: datetime | None = _ts(default=None)


class StoryPart(SQLModel, table=True):
    __tablename__ = "story_parts"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_story_parts_session_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = _session_id()
    seq: int
    direction: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    content: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    model_name: str | None = Field(default=None, max_length=200)
    state: str = Field(default=PartState.DONE.value, max_length=16)
    word_count: int = Field(default=0)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    #: The row holds the part's chosen take: its number, how many takes the part has, what made
    #: it (TakeKind) and the take it was made from (an edit's or a continuation's source). The
    #: other takes wait in part_takes, so every read of the story reads this table alone.
    take: int = Field(default=1)
    takes: int = Field(default=1)
    take_kind: str = Field(default=TakeKind.GENERATED.value, max_length=16)
    take_from: int | None = Field(default=None)


class PartTake(SQLModel, table=True):
    """A take of a part that is not the chosen one (the chosen take is the story_parts row).
    Choosing another take swaps the two rows' texts; no take is ever overwritten."""

    __tablename__ = "part_takes"
    __table_args__ = (sa.UniqueConstraint("part_id", "number", name="uq_part_takes_part_number"),)

    id: int | None = Field(default=None, primary_key=True)
    part_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("story_parts.id", ondelete="CASCADE"), nullable=False
        )
    )
    number: int
    kind: str = Field(default=TakeKind.GENERATED.value, max_length=16)
    take_from: int | None = Field(default=None)
    direction: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    content: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    model_name: str | None = Field(default=None, max_length=200)
    state: str = Field(default=PartState.DONE.value, max_length=16)
    word_count: int = Field(default=0)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class TrashedPart(SQLModel, table=True):
    """A part deleted from its story, with all its takes (`payload`), until it is restored or
    the trash is emptied. `seq` is where it stood; later parts moved up when it left."""

    __tablename__ = "trashed_parts"
    __table_args__ = (sa.Index("ix_trashed_parts_user_deleted", "user_id", "deleted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        )
    )
    session_id: str = _session_id()
    seq: int
    word_count: int = Field(default=0)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    deleted_at: datetime = _ts(default_factory=utcnow)


class StoryChange(SQLModel, table=True):
    """The undo log: one row per change a writer made to a story (chose a take, edited,
    deleted a part or the story, completed it), with what undoing and redoing it needs.
    Undone rows stay until a new change makes them unreachable (then they go: no redo)."""

    __tablename__ = "story_changes"
    __table_args__ = (sa.Index("ix_story_changes_session", "session_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = _session_id()
    action: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    undone: bool = Field(default=False)
    created_at: datetime = _ts(default_factory=utcnow)


class LoreRow(SQLModel, table=True):
    """One entry of a story's lorebook (core/memory/lore.py: what each field means, and the
    limits). `deleted_at` set: deleted, kept so that it can be brought back."""

    __tablename__ = "lore_entries"
    __table_args__ = (sa.Index("ix_lore_entries_session", "session_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = _session_id()
    name: str = Field(max_length=100)
    keys: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    content: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    priority: int = Field(default=0)
    always_on: bool = Field(default=False)
    enabled: bool = Field(default=True)
    regex: bool = Field(default=False)
    case_sensitive: bool = Field(default=False)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    deleted_at: datetime | None = _ts(default=None)


class AppMeta(SQLModel, table=True):
    """Facts about this database itself: its id (namespaces Redis keys and tokens) and the
    generated JWT secret."""

    __tablename__ = "app_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class RevokedToken(SQLModel, table=True):
    """Tokens ended by logout, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = _ts()


class LoginAttempts(SQLModel, table=True):
    """Failed logins in a row per username, whether or not an account has that name (so an
    unknown name locks exactly like a known one). `key` is a SHA-256 of the normalised name."""

    __tablename__ = "login_attempts"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = Field(default=0)
    last_failed_at: datetime | None = _ts(default=None)
