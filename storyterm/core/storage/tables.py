"""The tables: users, story_sessions, story_parts, plus app_meta, revoked_tokens and
login_attempts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from storyterm.core.basics import PartState, SessionStatus, utcnow

__all__ = ["PartState", "SessionStatus", "utcnow"]


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


class StoryPart(SQLModel, table=True):
    __tablename__ = "story_parts"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_story_parts_session_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(
        sa_column=sa.Column(
            sa.String(36),
            sa.ForeignKey("story_sessions.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
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
