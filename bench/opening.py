"""Area 3, opening the 1,000-part session: the core call that fills the story pane
(SessionService.open), from the Redis hot copy and with the cache off, on SQLite and PostgreSQL.
The TUI figure (until the newest parts are on screen) is measured by bench.tui_open."""

from __future__ import annotations

from typing import Any

from bench.common import AreaResult, Skip, add_percentiles, time_calls
from bench.context import Context

TITLE = "Opening the 1,000-part session, 5 takes of every part (core)"
TARGET_MS = 300.0


def _measure(
    area: AreaResult, service: Any, dataset: Any, how: str, backend: str, n: int, with_redis: bool
) -> None:
    label = f"({how}) — {backend}"
    user, sid = dataset.user_id, dataset.big_session_id
    hits: list[bool] = []

    def open_it(_i: int) -> None:
        hits.append(service.open(user, sid).from_cache)

    samples = time_calls(open_it, n, warmup=2)
    measured = hits[2:]
    if with_redis and not all(measured):
        area.note(f"{label}: {measured.count(False)} opens missed the cache")
    if not with_redis and any(measured):
        area.note(f"{label}: an open claimed to come from the cache")
    add_percentiles(
        area,
        f"open the {dataset.big_parts:,}-part session {label}",
        samples,
        target_p99=TARGET_MS,
    )


def run(ctx: Context, area: AreaResult) -> None:
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    n = ctx.repeat(full=60, quick=8)
    for backend in ("sqlite", "postgres"):
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        for with_redis in (False, True):
            how = "from Redis" if with_redis else "cache off"
            try:
                dataset = ctx.dataset(backend, "opening")
                redis_url = ctx.servers.redis_url() if with_redis else None
            except Skip as exc:
                area.note(f"{label}, {how}: not measured — {exc}")
                continue
            store = Store.open(dataset.url, redis_url)
            try:
                _measure(area, SessionService(store), dataset, how, label, n, with_redis)
            finally:
                store.close()
    area.note(
        "The session row is always read from the database (its version decides whether the hot "
        "copy is current); the newest 20 parts come from Redis or from one indexed query."
    )
