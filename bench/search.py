"""Area 5, search and filter over 10,000 sessions: the session list's queries as the app makes
them (SessionService.list / count), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import AreaResult, Skip, add_percentiles, time_calls
from bench.context import Context
from bench.data import COMMON_WORD, MISSING_WORD, RARE_WORD

TITLE = "Search and filter"
TARGET_MS = 50.0


def _deep_cursor(service: Any, user: int, pages: int) -> str | None:
    cursor = None
    for _ in range(pages):
        page = service.list(user, limit=50, cursor=cursor)
        cursor = page.next_cursor
        if cursor is None:
            break
    return cursor


def _measure(area: AreaResult, service: Any, dataset: Any, label: str, n: int) -> None:
    user = dataset.user_id
    page2 = service.list(user, limit=50).next_cursor
    deep_pages = min(100, dataset.sessions // 50 - 1)
    deep = _deep_cursor(service, user, deep_pages)
    common = COMMON_WORD.lower()
    queries: list[tuple[str, Callable[[], Any]]] = [
        ("first page, all sessions", lambda: service.list(user, limit=50)),
        ("first page, active", lambda: service.list(user, status="active", limit=50)),
        ("first page, paused", lambda: service.list(user, status="paused", limit=50)),
        ("first page, completed", lambda: service.list(user, status="completed", limit=50)),
        (
            f"title search '{common}' (1 in 20 titles)",
            lambda: service.list(user, search=common, limit=50),
        ),
        (
            f"title search '{RARE_WORD.lower()}' (1 title)",
            lambda: service.list(user, search=RARE_WORD.lower(), limit=50),
        ),
        (
            "title search with no match (reads every title)",
            lambda: service.list(user, search=MISSING_WORD, limit=50),
        ),
        (
            f"paused + '{common}'",
            lambda: service.list(user, status="paused", search=common, limit=50),
        ),
        ("next page (cursor)", lambda: service.list(user, limit=50, cursor=page2)),
        (
            f"page {deep_pages + 1} (cursor after {deep_pages * 50:,} sessions)",
            lambda: service.list(user, limit=50, cursor=deep),
        ),
        ("count, all", lambda: service.count(user)),
        ("count, paused", lambda: service.count(user, status="paused")),
        (f"count, '{common}'", lambda: service.count(user, search=common)),
    ]
    for name, query in queries:
        samples = time_calls(lambda _i, q=query: q(), n, warmup=3)
        add_percentiles(area, f"{name} — {label}", samples, target_p99=TARGET_MS)


def run(ctx: Context, area: AreaResult) -> None:
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    n = ctx.repeat(full=100, quick=10)
    for backend in ("sqlite", "postgres"):
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        try:
            dataset = ctx.dataset(backend, "search")
        except Skip as exc:
            area.note(f"{label}: not measured — {exc}")
            continue
        store = Store.open(dataset.url, None)
        try:
            _measure(area, SessionService(store), dataset, label, n)
        finally:
            store.close()
    area.note(
        f"{ctx.size.sessions:,} sessions of one writer; pages of 50, newest first, keyset "
        "paging on (updated_at, id). Title search is a case-insensitive substring match."
    )
