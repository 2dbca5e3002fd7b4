"""A generation's database work, run in the storyteller's threads so that the event loop (the
TUI) never waits on the disk."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class DatabaseCalls:
    """The database calls of one generation. The newest call is kept, so that the final save
    can let a checkpoint still running in a thread land first."""

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._executor = executor
        self._pending: concurrent.futures.Future[Any] | None = None

    async def __call__(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database call in the storyteller's threads."""
        future = self._executor.submit(partial(func, *args, **kwargs))
        self._pending = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if self._pending is future and future.done():
                self._pending = None

    def wait_pending(self) -> None:
        """Let a checkpoint already running in a thread land before the final write."""
        pending = self._pending
        if pending is not None and not pending.cancelled():
            concurrent.futures.wait([pending], timeout=30)

    async def shielded(self, func: Callable[[], T]) -> T:
        """Run `func` in the threads; if the caller is cancelled meanwhile, it still completes."""
        future = self._executor.submit(func)
        return await asyncio.shield(asyncio.wrap_future(future))
