"""What the core hands to front ends: immutable, typed views of sessions and parts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from storyterm.core.basics import STREAM_STALE_AFTER, PartState, SessionStatus, utcnow
from storyterm.core.errors import InvalidInput

T = TypeVar("T")


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class Account(_View):
    """A writer's account as the front ends see it (never the password hash)."""

    id: int
    username: str
    created_at: datetime


class Session(_View):
    """A story session as stored (no parts)."""

    id: str
    user_id: int
    title: str
    status: SessionStatus
    model_name: str | None
    session_metadata: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)
    part_count: int
    word_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_writable(self) -> bool:
        return self.status is SessionStatus.ACTIVE


class Part(_View):
    """One part of a story: what the writer asked for and what the model wrote."""

    id: int
    session_id: str
    seq: int
    direction: str
    content: str
    model_name: str | None
    state: PartState
    word_count: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    updated_at: datetime


class Page(_View, Generic[T]):
    """One page of a listing; pass `next_cursor` back for the next page (None: the end)."""

    items: list[T]
    next_cursor: str | None = None


class OpenedSession(_View):
    """A session with its newest parts, as a story pane shows it."""

    session: Session
    parts: list[Part]
    #: True when older parts exist before parts[0]; fetch them with parts_before().
    has_more_before: bool
    #: Whether the parts came from the Redis hot copy (for the benchmark and the status line).
    from_cache: bool = False


def is_stale(part: Part) -> bool:
    """A part still marked streaming whose last checkpoint is older than STREAM_STALE_AFTER was
    left behind by a crashed or killed process: it is shown (and stored) as interrupted."""
    return part.state is PartState.STREAMING and utcnow() - part.updated_at > STREAM_STALE_AFTER


def page_cursor(session: Session) -> str:
    """The cursor of the page after the one that ends with `session` (newest first)."""
    raw = f"{session.updated_at.isoformat()}|{session.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_cursor(cursor: str) -> tuple[datetime, str]:
    """(updated_at, id) of the last session before the page `cursor` asks for."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, session_id = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        return datetime.fromisoformat(stamp), session_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("That page cursor is not valid; start the listing again.") from exc


def parse_status(status: SessionStatus | str | None) -> SessionStatus | None:
    if status is None or status == "" or status == "all":
        return None
    if isinstance(status, SessionStatus):
        return status
    try:
        return SessionStatus(str(status).lower())
    except ValueError:
        raise InvalidInput(
            f"{status!r} is not a status. Use one of: active, paused, completed (or all)."
        ) from None


#: The mark a session's status shows with, in every list (CLI and TUI).
STATUS_MARK = {
    SessionStatus.ACTIVE: "●",
    SessionStatus.PAUSED: "‖",
    SessionStatus.COMPLETED: "✓",
}


def ago(when: datetime, now: datetime | None = None) -> str:
    """'just now', '5m ago', '3h ago', '2d ago', '3w ago', or the date."""
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 45:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{max(1, minutes)}m ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h ago"
    days = hours // 24
    if days < 14:
        return f"{days}d ago"
    if days < 60:
        return f"{days // 7}w ago"
    return when.strftime("%Y-%m-%d")
