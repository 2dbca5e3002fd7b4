"""Area 9, live events: a token streamed in one window is on screen in another.

Window B is the real TUI (headless, App.run_test) showing a story, listening for the writer's
changes over a loopback Redis (tui/main/live.py). Window A is a second Runtime in this process
on the same SQLite file and Redis, writing a part the way a generation does, minus the model: it
claims the part (Sessions.begin_part) and hands each token to the core's LiveText from a thread
of its own, at a steady rate, which the core publishes (coalesced to at most 25 events a second
per part, publisher.TEXT_PER_SECOND). One process, not two: A's side is the core's own path,
with its own Store, publisher thread and Redis connections, and B reads the stream as any other
process would. Each token's latency: from the moment A hands it over to the end of the first
screen refresh after B's part shows it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from bench.common import AreaResult, add_percentiles
from bench.context import Context
from bench.data import Dataset
from bench.tui_harness import painted, require_tui, running_app, wait_until

TITLE = "Live events: a token streamed in one window, on screen in another"
#: Tokens per measured stream, and how fast window A writes them (a fast local model).
TOKENS, QUICK_TOKENS = 600, 60
RATES = (30.0, 100.0)
#: Issue 16's "done when": a token streamed in TUI A is on screen in TUI B within 100 ms p99.
TARGET_P99_MS = 100.0
#: Every token the same width, so that its end in the part's text is known (no markup in it).
TOKEN = "w{:05d} "


def run(ctx: Context, area: AreaResult) -> None:
    require_tui()
    redis_url = ctx.servers.redis_url()
    tokens = QUICK_TOKENS if ctx.quick else TOKENS
    for rate in RATES:
        dataset = ctx.empty_dataset(f"live-{rate:g}")
        samples = asyncio.run(_measure(dataset, redis_url, tokens, rate))
        add_percentiles(
            area,
            f"token written in window A at {rate:g} tok/s, on screen in window B (SQLite + Redis)",
            samples,
            target_p99=TARGET_P99_MS,
        )
    area.note(
        "Window B is the TUI (run_test); window A is a second Runtime in the same process on "
        "the same database and Redis, claiming a part and handing tokens to the core's "
        "LiveText from a thread at a steady rate, as a generation does. The publisher sends a "
        "part's text at most 25 times a second (up to 40 ms of the latency by design), and "
        "the part view hands text to its Markdown at once when it handed none in the last frame "
        "(1/30 s), else at the frame's end."
    )


async def _measure(dataset: Dataset, redis_url: str, tokens: int, rate: float) -> list[float]:
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    writer = Runtime(load_settings(database_url=dataset.url, redis_url=redis_url))
    try:
        sessions = writer.sessions
        story = sessions.start(dataset.user_id, "The Keeper's Letter", {}, "gemma3:latest")
        async with running_app(dataset, redis_url=redis_url) as (app, pilot):
            screen = app.screen
            await wait_until(
                lambda: screen.session is not None and screen.changes.live.mode == "live",
                what="window B to show the story and hear live events",
            )
            part = sessions.begin_part(
                dataset.user_id, story.id, direction="Mara reads.", model_name="gemma3:latest"
            )
            live = sessions.live_text(dataset.user_id, part)
            await wait_until(
                lambda: getattr(screen.story.part_view(part.seq), "elsewhere", False),
                what="window B to show the part being written",
            )
            view = screen.story.part_view(part.seq)
            sent: list[float] = [0.0] * tokens
            writing = threading.Thread(target=_write, args=(live, sent, rate), daemon=True)
            writing.start()
            latencies = await _watch(app, view, sent)
            writing.join()
            await pilot.pause()
            return latencies
    finally:
        writer.close()


def _write(live: Any, sent: list[float], rate: float) -> None:
    """Window A: one token every 1/rate seconds, each stamped as it is handed over."""
    start = time.perf_counter()
    for i in range(len(sent)):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        sent[i] = time.perf_counter()
        live.add(TOKEN.format(i))


async def _watch(app: Any, view: Any, sent: list[float]) -> list[float]:
    """Window B: when each token's end is in the part's text on screen (ms after it was sent)."""
    width = len(TOKEN.format(0))
    latencies: list[float] = []
    seen = 0  # tokens whose latency is recorded
    deadline = time.perf_counter() + 60 + len(sent)
    while seen < len(sent):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"window B showed {seen} of {len(sent)} tokens")
        shown = len(view.shown_text) // width
        if shown > seen:
            on_screen = await painted(app)
            for i in range(seen, shown):
                latencies.append((on_screen - sent[i]) * 1000)
            seen = shown
        else:
            await asyncio.sleep(0.002)
    return latencies
