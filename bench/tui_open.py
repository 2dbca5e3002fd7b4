"""Area 3 on screen: opening the 1,000-part session in the TUI, from the moment the writer
chooses it in the session list to its newest parts painted, from Redis and with the cache off.

The app runs headless (App.run_test, 160x45) on the real screens and workers; each open goes
through the main screen's `open_session` (what Enter on the list does), alternating with a small
session so that every open really replaces the story pane."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import AreaResult, Skip, add_percentiles
from bench.context import Context
from bench.data import Dataset
from bench.tui_harness import painted, require_tui, running_app, wait_until

TITLE = "Opening the 1,000-part session, 5 takes of every part (on screen)"
TARGET_MS = 300.0


def text_widgets(view: Any) -> list[Any]:
    """The widgets that show a part view's text: Prose, or Markdown (older branches, and a
    part that is streaming)."""
    from textual.widgets import Markdown

    kinds: tuple[type, ...] = (Markdown,)
    try:
        from storyterm.tui.widgets.prose import Prose

        kinds = (Prose, Markdown)
    except ImportError:
        pass
    return [child for child in view.children if isinstance(child, kinds)]


def _shows(screen: Any, session_id: str, seq: int) -> bool:
    """The story pane shows `session_id` with part `seq` mounted and its text laid out: each
    widget holding the text has it and takes room on screen (a Markdown widget only does once
    its blocks are mounted)."""
    story = screen.story
    if story.shown_session_id != session_id:
        return False
    view = story.part_view(seq)
    if view is None:
        return False
    shown = text_widgets(view)  # empty: mounted, its children not composed yet
    return bool(shown) and all(w.source and w.region.height > 0 for w in shown)


async def _measure(dataset: Dataset, redis_url: str | None, n: int) -> tuple[list[float], int]:
    async with running_app(dataset, redis_url=redis_url) as (app, pilot):
        screen = app.screen
        big, big_seq = dataset.big_session_id, dataset.big_parts
        small = next(
            s.id
            for s in app.runtime.sessions.list(dataset.user_id, limit=5).items
            if s.id != big and s.part_count > 0
        )
        small_seq = app.runtime.sessions.get(dataset.user_id, small).part_count
        samples: list[float] = []
        hits = 0
        for i in range(n + 2):
            screen.open_session(small)
            await wait_until(lambda: _shows(screen, small, small_seq), what="the small session")
            await pilot.pause()
            t0 = time.perf_counter()
            screen.open_session(big)
            await wait_until(lambda: _shows(screen, big, big_seq), what="the newest part")
            t1 = await painted(app)
            if i >= 2:  # two warm-up opens
                samples.append((t1 - t0) * 1000)
            await asyncio.sleep(0)
        if redis_url:
            hits = int(app.runtime.sessions.open(dataset.user_id, big).from_cache)
        return samples, hits


def run(ctx: Context, area: AreaResult) -> None:
    require_tui()
    n = ctx.repeat(full=20, quick=3)
    dataset = ctx.sqlite_dataset("tui-open")
    for how, with_redis in (("cache off", False), ("from Redis", True)):
        try:
            redis_url = ctx.servers.redis_url() if with_redis else None
        except Skip as exc:
            area.note(f"{how}: not measured — {exc}")
            continue
        samples, hits = asyncio.run(_measure(dataset, redis_url, n))
        if with_redis and not hits:
            area.note(f"{how}: the hot copy was not used — check the cache")
        add_percentiles(
            area,
            f"choose the {dataset.big_parts:,}-part session → newest parts painted ({how})",
            samples,
            target_p99=TARGET_MS,
        )
    area.note(
        "SQLite with the 10,000-session dataset. Timed from the call Enter makes "
        "(MainScreen.open_session) to the first screen refresh after the newest part's "
        "text is laid out on screen; the database read runs in a worker thread."
    )
