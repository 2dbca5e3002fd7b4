"""One generation as server-sent events, and what happens when the client goes away.

The storyteller runs in a task of its own and hands its events over a queue. Tearing the
response down (a disconnect cancels it) therefore never cancels the storyteller halfway through
a save: the `cancel` event is set instead, and the storyteller stops and keeps the text so far
as an interrupted part, exactly as when a writer presses Esc in the app.

Until the storyteller's first event nothing has been sent, so a failure before it (no such
session, a paused one, a lost race, Ollama down, a missing model) is an ordinary HTTP error
with its status. After that a failure is an `event: error` frame that ends the stream.

Wire format (each frame is `event: <name>` and one `data:` line of JSON):
`progress` {"message"} · `delta` {"text"} (the text written since the last one: the first
piece at once, then at most DELTA_FRAMES_PER_SECOND a second; text always goes out before the
`saved`, `done` or `error` that follows it) · `saved` {"seq", "state", "word_count"} ·
`done` {"part", "session", "prompt_tokens", "completion_tokens", "tokens_per_second",
"done_reason", "message"} · `error` {"code", "message", "part"}. Comment lines (FastAPI's
keep-alive, `: ping`) are sent while the model is quiet, so proxies keep the connection open.
The framing is FastAPI's own (fastapi.sse).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event
from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Message

from storyterm.api.errors import INTERNAL_MESSAGE
from storyterm.api.schemas import (
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    Part,
    ProgressEvent,
    SavedEvent,
    SessionOut,
)
from storyterm.core.generation.events import Failed, Finished, Progress, Saved, TextDelta
from storyterm.errors import StorytermError

log = logging.getLogger("storyterm.api")

#: How long a stopped generation gets to save its interrupted part before its task is
#: cancelled (the storyteller then still saves it, from its own threads).
STOP_GRACE_SECONDS = 15.0
#: Seconds of silence after which a comment line is sent.
KEEPALIVE_SECONDS = 15.0

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

#: `delta` frames a second at most, as live events are (core/events/publisher.py): text the
#: model writes faster goes out joined. Each frame costs the server as much CPU as a token
#: costs the model client (~0.1 ms: the response's send path and the socket's write).
DELTA_FRAMES_PER_SECOND = 25
DELTA_INTERVAL = 1.0 / DELTA_FRAMES_PER_SECOND

_END = object()
#: No event for KEEPALIVE_SECONDS: a comment line goes out.
_QUIET = object()


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` answer (also what the OpenAPI document lists for it). Not FastAPI's
    EventSourceResponse: as a route's response_class that one makes FastAPI encode what the
    route yields, and this route returns a response built after the first event instead."""

    media_type = "text/event-stream"


def frame(event: str, data: BaseModel) -> bytes:
    """One SSE frame: `event: <name>` and the JSON of `data` (one line: JSON never holds a raw
    newline)."""
    return format_sse_event(event=event, data_str=data.model_dump_json())


def event_frame(event: object) -> bytes | None:
    """The wire form of one storyteller event (None: nothing a client needs)."""
    if isinstance(event, TextDelta):
        return frame("delta", DeltaEvent(text=event.text)) if event.text else None
    if isinstance(event, Saved):
        part = event.part
        return frame(
            "saved", SavedEvent(seq=part.seq, state=part.state, word_count=part.word_count)
        )
    if isinstance(event, Progress):
        return frame("progress", ProgressEvent(message=event.message))
    if isinstance(event, Finished):
        return frame(
            "done",
            DoneEvent(
                part=Part.of(event.part),
                session=SessionOut.of(event.session),
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                tokens_per_second=event.tokens_per_second,
                done_reason=event.done_reason,
                message=event.message,
            ),
        )
    if isinstance(event, Failed):
        error = event.error
        kept = Part.of(event.part) if event.part is not None else None
        return frame("error", ErrorEvent(code=error.code, message=error.message, part=kept))
    if isinstance(event, StorytermError):
        return frame("error", ErrorEvent(code=event.code, message=event.message))
    if isinstance(event, BaseException):
        return frame("error", ErrorEvent(code="internal", message=INTERNAL_MESSAGE))
    return None


class Generations:
    """The generations an app is running, so that a server shutting down can stop them all:
    each part is saved as interrupted and each client gets its `done` event, instead of
    connections being cut when the shutdown grace period runs out."""

    def __init__(self) -> None:
        # No lock: stop_all runs in a signal handler on the event loop's own thread, where a
        # lock held by the interrupted code would deadlock. Single set operations and list()
        # of a set are atomic under the GIL.
        self._running: set[Generation] = set()

    def add(self, generation: Generation) -> None:
        self._running.add(generation)

    def discard(self, generation: Generation) -> None:
        self._running.discard(generation)

    def __len__(self) -> int:
        return len(self._running)

    def stop_all(self) -> int:
        """Ask every running generation to stop. Safe from a signal handler or another thread.
        Returns how many were asked."""
        running = list(self._running)
        for generation in running:
            generation.request_stop()
        return len(running)

    async def finish_all(self, timeout: float) -> None:
        """Stop every generation still running and wait, up to `timeout` seconds, until each
        has saved its part (the app's shutdown: after it no part is left "streaming", even
        when the server gave up waiting for the connections and cancelled them)."""
        running = list(self._running)
        for generation in running:
            generation.cancel.set()
        tasks = [generation.task for generation in running if not generation.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


class Generation:
    """A storyteller generation running in its own task, read through a queue.

    `events` is started with the generation's cancel event; `receive` is the request's ASGI
    receive, watched for the client's disconnect.
    """

    def __init__(
        self,
        events: Callable[[asyncio.Event], AsyncIterator[Any]],
        receive: Callable[[], Awaitable[Message]],
        registry: Generations | None = None,
    ) -> None:
        self.cancel = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._registry = registry
        if registry is not None:
            registry.add(self)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._events = events(self.cancel)
        self._task = asyncio.create_task(self._pump(), name="storyterm-api-generation")
        #: The task running the storyteller: done once the part is saved.
        self.task: asyncio.Task[None] = self._task
        self._watcher = asyncio.create_task(self._watch(receive), name="storyterm-api-disconnect")

    async def _pump(self) -> None:
        try:
            async for event in self._events:
                self._queue.put_nowait(event)
        except asyncio.CancelledError:
            raise
        except StorytermError as exc:
            self._queue.put_nowait(exc)
        except Exception as exc:
            log.error("the generation failed unexpectedly", exc_info=exc)
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(_END)

    async def _watch(self, receive: Callable[[], Awaitable[Message]]) -> None:
        """Stop the generation the moment the client goes away, also while the model is still
        thinking and nothing is being sent (a failed send would be the only other sign)."""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._task.done():
                    log.info("client went away: stopping the generation, keeping its text")
                    self.cancel.set()
                return

    def request_stop(self) -> None:
        """Set the cancel event from any thread (or a signal handler)."""
        self._loop.call_soon_threadsafe(self.cancel.set)

    async def stop(self) -> None:
        """Stop the generation if it still runs, and wait until its part is saved. Shielded:
        it runs while the response is being cancelled."""
        self.cancel.set()
        with anyio.CancelScope(shield=True):
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("the generation did not stop in %ss; cancelling it", STOP_GRACE_SECONDS)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            except Exception:  # the pump has already queued and logged it
                pass
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
        if self._registry is not None:
            self._registry.discard(self)

    async def response(self) -> EventStreamResponse:
        """Wait for the first event; raise a failure before it as the HTTP error it is."""
        try:
            first = await self._queue.get()
            if isinstance(first, Failed):
                raise first.error
            if isinstance(first, BaseException):
                raise first
            if first is _END:
                raise RuntimeError("the generation ended without a result")
        except BaseException:
            await self.stop()
            raise
        return EventStreamResponse(self._body(first), headers=SSE_HEADERS)

    async def _body(self, first: object) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last_text = -DELTA_INTERVAL  # when the last `delta` frame went out (loop.time())
        try:
            event: object = first
            while event is not _END:
                after: object = None
                if isinstance(event, TextDelta):
                    wait = last_text + DELTA_INTERVAL - loop.time()
                    if wait > 0:  # what the model writes meanwhile goes out with it
                        await asyncio.sleep(wait)
                    event, after = self._with_queued_text(event)
                    last_text = loop.time()
                data = KEEPALIVE_COMMENT if event is _QUIET else event_frame(event)
                if data:
                    yield data
                event = after if after is not None else await self._next_event()
        finally:
            # A normal end, or the response torn down by a disconnect: either way the part is
            # saved before the request is over.
            await self.stop()

    async def _next_event(self) -> object:
        """The storyteller's next event (_QUIET after KEEPALIVE_SECONDS without one)."""
        queue = self._queue
        if not queue.empty():
            return queue.get_nowait()
        try:
            # Not asyncio.wait_for: in Python 3.11 it makes a task for every wait.
            async with asyncio.timeout(KEEPALIVE_SECONDS):
                return await queue.get()
        except TimeoutError:
            return _QUIET

    def _with_queued_text(self, delta: TextDelta) -> tuple[TextDelta, object]:
        """`delta` joined with the text queued behind it, and the event after that text
        (None: nothing more is queued)."""
        queue = self._queue
        if queue.empty():
            return delta, None
        pieces = [delta.text]
        after: object = None
        while not queue.empty():
            event = queue.get_nowait()
            if not isinstance(event, TextDelta):
                after = event
                break
            pieces.append(event.text)
        if len(pieces) == 1:
            return delta, after
        return TextDelta("".join(pieces)), after
