"""/api/langchain/events and /api/langchain/sessions/{id}/events: a writer's live events as
server-sent events (core/events), until the client goes away.

Each change is a frame `event: <kind>` (session.created, part.text, ...), `id: <position>`
and one `data:` line of JSON; a `status` frame says whether the events are live (Redis) or
found by watching the database every few seconds (without Redis), first and at every change.
A client that reconnects with `Last-Event-ID` gets what happened since that event, as long as
Redis still holds it; otherwise its first status frame says `"resync": true` (read again what
you show). Comment lines keep the connection open while nothing happens.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.rules import NO_NUL_PATTERN
from storyterm.api.schemas import _Frame
from storyterm.api.streaming import SSE_HEADERS, EventStreamResponse
from storyterm.core.events import Event, EventKind, Mode, Status, Subscriber

router = APIRouter(prefix="/api/langchain", tags=["events"])

#: Seconds without a frame after which a comment line is sent (tests make it shorter).
KEEPALIVE_SECONDS = 15.0

DESCRIPTION = __doc__.split("\n\n", 1)[1] if __doc__ else ""


class LiveEvent(BaseModel):
    """One change to one of your sessions, sent once the database holds it."""

    kind: EventKind
    user_id: int
    session_id: str
    version: int | None = Field(
        None, description="The session's version after the change (none: it is gone)."
    )
    seq: int | None = Field(None, description="The part it is about.")
    offset: int | None = Field(
        None, description="part.text: where `text` starts in the part's text."
    )
    text: str | None = Field(None, description="part.text: the text the model just wrote.")
    title: str | None = None
    status: str | None = None
    at: float = Field(0.0, description="When it was sent (seconds since the epoch).")
    synthetic: bool = Field(
        False, description="Found by watching the database (no event was heard for it)."
    )
    id: str = Field("", description="Its position (what Last-Event-ID resumes after).")


class WatchStatus(BaseModel):
    mode: Mode
    reason: str = ""
    resync: bool = False


class LiveEventFrame(_Frame):
    event: EventKind
    data: LiveEvent


class StatusFrame(_Frame):
    event: Literal["status"]
    data: WatchStatus


EventFrame = LiveEventFrame | StatusFrame

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="Resume after this event (the `id:` of the last frame received).",
        max_length=64,
    ),
]
SessionId = Annotated[
    str,
    Path(description="The session's id.", json_schema_extra={"pattern": NO_NUL_PATTERN}),
]

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"model": EventFrame, "description": "Server-sent events, until you disconnect."},
}


@router.get(
    "/events",
    summary="Hear every change to your sessions (streamed)",
    description=DESCRIPTION,
    response_class=EventStreamResponse,
    responses={**_STREAM, **errors(401, 503, streaming=True)},
)
async def all_events(
    account: AccountDep, runtime: RuntimeDep, last_event_id: LastEventId = None
) -> EventStreamResponse:
    subscriber = await run_in_threadpool(
        runtime.store.events.subscribe, account.id, None, last_id=last_event_id
    )
    return EventStreamResponse(frames(subscriber), headers=SSE_HEADERS)


@router.get(
    "/sessions/{session_id}/events",
    summary="Hear every change to one session, its text as it is written (streamed)",
    description=DESCRIPTION,
    response_class=EventStreamResponse,
    responses={**_STREAM, **errors(401, 404, 503, streaming=True)},
)
async def session_events(
    session_id: SessionId,
    account: AccountDep,
    runtime: RuntimeDep,
    last_event_id: LastEventId = None,
) -> EventStreamResponse:
    # Another writer's story is not found, exactly as a missing one (before any frame).
    subscriber = await run_in_threadpool(
        runtime.store.events.subscribe, account.id, session_id, last_id=last_event_id
    )
    return EventStreamResponse(frames(subscriber), headers=SSE_HEADERS)


async def frames(subscriber: Subscriber) -> AsyncIterator[bytes]:
    """The subscriber's events as SSE frames, with keep-alives; it is closed when the client
    goes away (Starlette cancels the response). The frames of one batch (what one read of the
    stream brought) go out in one write."""
    try:
        quiet_since = time.monotonic()
        async for batch in subscriber.stream():
            if batch:
                yield b"".join(_frame(item) for item in batch)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                yield KEEPALIVE_COMMENT
                quiet_since = time.monotonic()
    finally:
        subscriber.close()


def _frame(item: Event | Status) -> bytes:
    if isinstance(item, Status):
        data = WatchStatus(mode=item.mode, reason=item.reason, resync=item.resync)
        return format_sse_event(event="status", data_str=data.model_dump_json())
    return format_sse_event(
        event=item.kind.value, id=item.id or None, data_str=item.to_json().decode()
    )
