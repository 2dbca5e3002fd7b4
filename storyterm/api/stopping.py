"""A worker process of `storyterm serve --workers N` stops its generations when asked to quit,
before uvicorn closes the connections (the single process does it in cli/serve.py's server)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from storyterm.api.streaming import Generations


def stop_generations_on_signals(generations: Generations) -> Callable[[], None]:
    """In a worker: when asked to quit (SIGINT, SIGTERM, or SIGHUP: the terminal closed), stop
    the running generations first, so each part is saved as interrupted and each client gets
    its `done` before the connections close; then let uvicorn shut down as it would. Returns
    what puts the previous handlers back. Runs in the worker's main thread, after uvicorn has
    installed its own handlers (it does so before the app starts)."""
    previous: dict[int, Any] = {}
    exit_handler = signal.getsignal(signal.SIGTERM)
    if not callable(exit_handler):  # not under uvicorn's server: nothing to chain to
        return lambda: None

    def chained(then: Callable[[int, FrameType | None], Any]) -> Callable[..., None]:
        def handler(sig: int, frame: FrameType | None) -> None:
            generations.stop_all()
            then(sig, frame)

        return handler

    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if callable(current):
            previous[sig] = signal.signal(sig, chained(current))
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None:
        # uvicorn leaves SIGHUP alone: it would end the worker on the spot, with each part
        # being written left "streaming". Handled as SIGTERM; uvicorn raises it again once
        # shut down, after these handlers are put back, so the worker still ends by it.
        previous[hangup] = signal.signal(hangup, chained(exit_handler))

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
