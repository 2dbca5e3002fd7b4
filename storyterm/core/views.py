"""What the core hands to front ends: immutable, typed views of sessions and parts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from storyterm.core.models import PartState, SessionStatus

T = TypeVar("T")


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


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
