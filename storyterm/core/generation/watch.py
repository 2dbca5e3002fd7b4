"""Reading a model's stream so that the reader never waits on it alone: the next item, the
writer's cancel or a timer, whichever comes first (a generation's hang and checkpoint timers);
and closing a generation's streams and chat clients when it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

#: What `Watch.next` found: an item, the end of the stream, its error, the cancel event set, or
#: the time up with nothing.
ITEM, END, ERROR, CANCEL, TICK = "item", "end", "error", "cancel", "tick"


class Watch:
    """Reads an async iterator in a task of its own, so that the reader can wait for the next
    item, the cancel event or a timer, whichever comes first, and drop the stream at once."""

    def __init__(self, source: AsyncIterator[Any], cancel: asyncio.Event) -> None:
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._cancel = cancel
        self._cancel_wait: asyncio.Task[Any] | None = None
        self._getter: asyncio.Future[Any] | None = None
        self._task = asyncio.ensure_future(self._pump(source))

    async def _pump(self, source: AsyncIterator[Any]) -> None:
        try:
            async for item in source:
                self._queue.put_nowait((ITEM, item))
            self._queue.put_nowait((END, None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._queue.put_nowait((ERROR, exc))

    async def next(self, timeout: float) -> tuple[str, Any]:
        if self._cancel.is_set():
            return CANCEL, None
        if not self._queue.empty():
            return self._queue.get_nowait()
        if self._cancel_wait is None:
            self._cancel_wait = asyncio.ensure_future(self._cancel.wait())
        self._getter = asyncio.ensure_future(self._queue.get())
        await asyncio.wait(
            {self._getter, self._cancel_wait},
            timeout=max(0.0, timeout),
            return_when=asyncio.FIRST_COMPLETED,
        )
        getter, self._getter = self._getter, None
        if getter.done() and not getter.cancelled():
            return getter.result()
        getter.cancel()
        if self._cancel.is_set():
            return CANCEL, None
        return TICK, None

    def close(self) -> asyncio.Future[Any]:
        """Drop the stream; returns the reading task, to wait for it to unwind."""
        for task in (self._task, self._cancel_wait, self._getter):
            if task is not None and not task.done():
                task.cancel()
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
