"""Helpers for the TUI tests: a fixed clock, seeded stories with stable ids and times, waiting."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from textual.pilot import Pilot

from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import StoryPart, StorySession
from storyterm.tui.app import StorytermApp
from storyterm.tui.screens.login import LoginScreen

#: "Now" for every TUI test: ages like "2h ago" are measured from here.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

sessions_t: sa.Table = StorySession.__table__  # type: ignore[attr-defined]
parts_t: sa.Table = StoryPart.__table__  # type: ignore[attr-defined]


def make_app(runtime: Runtime) -> StorytermApp:
    return StorytermApp(runtime, clock=lambda: NOW)


def writer_id(runtime: Runtime) -> int:
    """The id of the writer the app acts for (the account logged in on `runtime`)."""
    account = runtime.current_account()
    assert account is not None, "log in first (the runtime fixture does)"
    return account.id


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], object], timeout: float = 10.0
) -> None:
    """Let the app run until `predicate()` is true (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await pilot.pause(0.02)


async def ready(pilot: Pilot[Any]) -> StorytermApp:
    """Wait for the main screen to be ready (list and newest story shown, health known)."""
    app = pilot.app
    assert isinstance(app, StorytermApp)
    await wait_until(pilot, lambda: app.startup_seconds is not None)
    await wait_until(pilot, lambda: app.screen.query_one("StatusBar").ollama != "checking")
    await meter_settled(pilot)
    await pilot.pause()
    return app


async def meter_settled(pilot: Pilot[Any]) -> None:
    """Wait until the main screen's context meter has measured the open story (it plans in a
    worker a moment after the story settles): a snapshot then always shows its figure."""
    from storyterm.tui.main.screen import MainScreen

    for screen in pilot.app.screen_stack:
        if isinstance(screen, MainScreen) and screen.is_mounted:
            gauge = screen.column.gauge
            await wait_until(pilot, lambda gauge=gauge: gauge.settled)


def seed_session(
    runtime: Runtime,
    user_id: int,
    title: str,
    *,
    status: str = "active",
    parts: int = 0,
    words_per_part: int = 30,
    age: timedelta = timedelta(hours=2),
    model: str | None = "gemma3:latest",
    metadata: dict[str, Any] | None = None,
    content: Callable[[int], str] | None = None,
) -> str:
    """A session with fixed times and `parts` parts (written through the service, so the
    counts are right)."""
    service = runtime.sessions
    session = service.start(user_id, title, metadata or {"genre": "mystery"}, model)
    for n in range(1, parts + 1):
        text = content(n) if content else _prose(n, words_per_part)
        service.append_part(user_id, session.id, direction=f"Direction for part {n}", content=text)
    # Ids are never shown; times are (ages, order), so they are pinned. Give every session a
    # distinct age: the list orders by last change.
    when = NOW - age
    values: dict[str, Any] = {"created_at": when, "updated_at": when, "status": status}
    if status == "paused":
        values["paused_at"] = when
    if status == "completed":
        values["completed_at"] = when
    with runtime.store.engine.begin() as conn:
        conn.execute(
            parts_t.update()
            .where(parts_t.c.session_id == session.id)
            .values(created_at=when, updated_at=when)
        )
        conn.execute(sessions_t.update().where(sessions_t.c.id == session.id).values(**values))
    runtime.store.cache.drop(session.id)
    return session.id


def bulk_sessions(runtime: Runtime, user_id: int, n: int) -> None:
    """`n` sessions inserted in one statement (the 10,000-session list)."""
    rows = []
    for i in range(n):
        when = NOW - timedelta(minutes=i)
        rows.append(
            {
                "id": f"10000000-0000-4000-8000-{i:012d}",
                "user_id": user_id,
                "title": f"Bulk story {i:05d}",
                "status": ("active", "paused", "completed")[i % 3],
                "model_name": "gemma3:latest",
                "session_metadata": {},
                "memory": {},
                "part_count": 0,
                "word_count": 0,
                "version": 1,
                "created_at": when,
                "updated_at": when,
            }
        )
    with runtime.store.engine.begin() as conn:
        conn.execute(sessions_t.insert(), rows)


def bulk_parts(runtime: Runtime, session_id: str, n: int, words: int = 12) -> None:
    """`n` finished parts added to an empty session in one statement (long stories)."""
    when = NOW - timedelta(hours=2)
    rows = [
        {
            "session_id": session_id,
            "seq": seq,
            "direction": f"Direction for part {seq}",
            "content": _prose(seq, words),
            "model_name": "gemma3:latest",
            "state": "done",
            "word_count": words + 3,
            "created_at": when,
            "updated_at": when,
        }
        for seq in range(1, n + 1)
    ]
    with runtime.store.engine.begin() as conn:
        conn.execute(parts_t.insert(), rows)
        conn.execute(
            sessions_t.update()
            .where(sessions_t.c.id == session_id)
            .values(part_count=n, word_count=n * (words + 3), version=sessions_t.c.version + 1)
        )
    runtime.store.cache.drop(session_id)


_SENTENCE = (
    "the lamp burned low while Mara read the letter again and the sea kept its own counsel "
    "beyond the rocks where gulls slept"
)
_WORDS = _SENTENCE.split()


def _prose(n: int, words: int) -> str:
    body = " ".join(_WORDS[(n + i) % len(_WORDS)] for i in range(words))
    return f"Part {n} begins. {body.capitalize()}."


def screen_text(app: StorytermApp) -> tuple[str, str]:
    """(plain text of the screen, the raw bytes a terminal would receive) right now."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
    )
    update = app.screen._compositor.render_update(full=True)
    console.print(update)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    return console.export_text(styles=False), raw


async def wait_idle(pilot: Pilot[Any]) -> None:
    """Let pending workers and messages settle."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await asyncio.sleep(0)


async def login_form(pilot: Pilot[Any], app: StorytermApp) -> LoginScreen:
    """The login screen, once its password field has the cursor (the form is settled)."""
    await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen))
    screen = app.screen
    assert isinstance(screen, LoginScreen)
    await wait_until(pilot, lambda: app.focused is screen.query_one("#password"))
    return screen
