"""Reading a model's stream so that the reader never waits on it alone: the next item, the
writer's cancel or a timer, whichever comes first (a generation's hang and checkpoint timers);
and closing a generation's streams and chat clients when it ends."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

#: What `Watch.next` found: an item, the end of the stream, its error, the cancel event set, or
#: the time up with nothing.
ITEM, END, ERROR, CANCEL, TICK = "item", "end", "error", "cancel", "tick"


class Watch:
    """Reads an async iterator in a task of its own, so that the reader can wait for the next
    item, the cancel event or a timer, whichever comes first, and drop the stream at once.

    A wait is one future and one timer: this runs for every token, and a task per wait (a
    queue's `get` under `asyncio.wait`) cost several times as much."""

    def __init__(self, source: AsyncIterator[Any], cancel: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: deque[tuple[str, Any]] = deque()
        self._cancel = cancel
        self._cancel_wait: asyncio.Task[Any] | None = None
        #: The reader's wait, woken by an item, the cancel event, its timer or close().
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._task = asyncio.ensure_future(self._pump(source))

    def _put(self, kind: str, value: Any) -> None:
        self._items.append((kind, value))
        self._wake()

    def _wake(self, *_: object) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _pump(self, source: AsyncIterator[Any]) -> None:
        try:
            async for item in source:
                self._put(ITEM, item)
            self._put(END, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._put(ERROR, exc)

    async def next(self, timeout: float) -> tuple[str, Any]:
        if self._cancel.is_set():
            return CANCEL, None
        if self._items:
            return self._items.popleft()
        if self._closed:  # nothing more will come
            return TICK, None
        if self._cancel_wait is None:
            self._cancel_wait = asyncio.ensure_future(self._cancel.wait())
            self._cancel_wait.add_done_callback(self._wake)
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(max(0.0, timeout), self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self._items:
            return self._items.popleft()
        if self._cancel.is_set():
            return CANCEL, None
        return TICK, None

    def close(self) -> asyncio.Future[Any]:
        """Drop the stream; returns the reading task, to wait for it to unwind."""
        self._closed = True
        for task in (self._task, self._cancel_wait):
            if task is not None and not task.done():
                task.cancel()
        self._wake()
        return self._task


class Streams:
    """The streams and chat models of one generation: each stream read through a Watch on the
    generation's cancel event, and all of them closed when it ends."""

    def __init__(self, cancel: asyncio.Event) -> None:
        self._cancel = cancel
        self._watches: list[Watch] = []
        self._models: list[Any] = []
        self._unwinding: list[asyncio.Future[Any]] = []

    def watch(self, source: AsyncIterator[Any]) -> Watch:
        watch = Watch(source, self._cancel)
        self._watches.append(watch)
        return watch

    def keep(self, llm: Any) -> Any:
        """A chat model made for this generation: its client is closed with the rest."""
        self._models.append(llm)
        return llm

    def close_watches(self) -> None:
        for watch in self._watches:
            self._unwinding.append(watch.close())
        self._watches.clear()

    async def close_clients(self) -> None:
        """Close the HTTP connections of the chat models kept (ChatOllama keeps an
        ollama.AsyncClient, whose pool would otherwise be left to the garbage collector)."""
        unwinding, self._unwinding = self._unwinding, []
        pending = [task for task in unwinding if not task.done()]
        if pending:  # let cancelled streams close their responses first
            await asyncio.wait(pending, timeout=2)
        models, self._models = self._models, []
        for llm in models:
            client = getattr(llm, "_async_client", None)
            if client is None:
                continue
            try:
                await client.close()
            except Exception:  # closing is best effort: the part is already saved
                log.debug("closing an Ollama client failed", exc_info=True)
