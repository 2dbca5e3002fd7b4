"""Parts starting together take their turn: one at a time per process, for a short while.

A part's start is the costly stretch of a generation that is neither the model's nor the
network's: claiming its place, reading the story, planning the prompt and saving it (~10-20
ms of CPU and a handful of database trips). When fifty writers on one server press Enter at
once (or their parts end together and they all go on), each worker ran a dozen of those
side by side: every step of each one waited behind a step of every other, so all of them were
slow together, and every other request the worker served meanwhile (a session list, a story
opened) waited behind all of them (bench/FINDINGS.md, "Parts starting together, in turns").

Taking turns does the same work in the same time, but the first part starts after one start's
time, not after all of them, and a request in between waits for one step, not a dozen.

A turn is short and bounded: it covers no wait for Ollama (the model's listing is asked for
before, the model's reply after, the folding of older parts into the summary without a turn),
and a start that has waited PATIENCE_SECONDS goes ahead without one, so a database that has
become slow makes no queue longer than that.
"""

from __future__ import annotations

import asyncio
import weakref

#: Parts that may be starting at once in one process.
AT_ONCE = 1
#: The longest a start waits for its turn before it goes ahead anyway.
PATIENCE_SECONDS = 1.0


class Turn:
    """One start's turn (or its going ahead without one): `done()` ends it; twice is fine."""

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self._semaphore = semaphore

    @property
    def held(self) -> bool:
        return self._semaphore is not None

    def done(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()


class Starts:
    """The turns of one process's starts, an event loop at a time (a semaphore belongs to the
    loop it is used in; the app and its tests may run several)."""

    def __init__(self, at_once: int = AT_ONCE, patience: float = PATIENCE_SECONDS) -> None:
        self.at_once = at_once
        self.patience = patience
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    async def turn(self) -> Turn:
        """Wait for a turn, at most `patience` seconds (then go ahead without one)."""
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.at_once)
        try:
            async with asyncio.timeout(self.patience):
                await semaphore.acquire()
        except TimeoutError:
            return Turn(None)
        return Turn(semaphore)
