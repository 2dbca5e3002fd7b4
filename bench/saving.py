"""Area 4, saving: how long a part append and a streaming checkpoint take, as the app calls them
(SessionService.append_part / checkpoint_part), on SQLite and PostgreSQL, with and without Redis.
"""

from __future__ import annotations

import random
from typing import Any

from bench.common import AreaResult, Skip, add_percentiles, time_calls
from bench.context import Context
from bench.data import TextMaker

TITLE = "Saving area"
#: Target p99 per backend (issue 8).
TARGET_P99_MS = {"sqlite": 5.0, "postgresql": 10.0}


def run(ctx: Context, area: AreaResult) -> None:
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    n = ctx.repeat(full=300, quick=20)
    text = TextMaker(random.Random(7))
    part_text = [text.paragraphs(470) for _ in range(20)]
    # A streaming part grows by about a second of a fast model's output per checkpoint; the
    # whole checkpoint text is rewritten each time, so size matters: it ends near 6,000 tokens.
    growth = [text.paragraphs(90) for _ in range(50)]

    configs = [("sqlite", False), ("sqlite", True), ("postgresql", False), ("postgresql", True)]
    for backend, with_redis in configs:
        label = f"{'SQLite' if backend == 'sqlite' else 'PostgreSQL'}, " + (
            "Redis on" if with_redis else "cache off"
        )
        try:
            dataset = ctx.dataset("sqlite" if backend == "sqlite" else "postgres", "saving")
            redis_url = ctx.servers.redis_url() if with_redis else None
        except Skip as exc:
            area.note(f"{label}: not measured — {exc}")
            continue
        store = Store.open(dataset.url, redis_url)
        try:
            service = SessionService(store)
            target = TARGET_P99_MS[backend]
            _measure(
                area, service, dataset.user_id, label, n, target, part_text, growth, store.cache
            )
            if with_redis:
                # The same calls, each timed until Redis holds the change too (info only).
                _measure(
                    area,
                    service,
                    dataset.user_id,
                    label,
                    n,
                    None,
                    part_text,
                    growth,
                    store.cache,
                    until_cached=True,
                )
            if with_redis and store.cache_state.value != "online":
                area.note(f"{label}: the cache went {store.cache_state.value} during the run!")
        finally:
            store.close()
    area.note(
        "Each call is the whole service call a front end makes: one write transaction "
        "(BEGIN IMMEDIATE on SQLite, SELECT … FOR UPDATE on PostgreSQL) and its commit. With "
        "the cache on, the call also queues the Redis compare-and-set, which the cache's "
        "writer thread sends after the call returns (a save never waits for Redis); the rows "
        "'until Redis has it too' time the same calls up to the moment Redis holds the change "
        "(Cache.flush). Before each timed call the previous one's Redis write is let finish "
        "(untimed), as it has in use, where saves are a second or more apart. SQLite runs in "
        "WAL mode with "
        "synchronous=NORMAL (the app's setting); the throwaway PostgreSQL runs with fsync=off, "
        "as the tests' server does, so its figures leave out disk flushes."
    )


def _measure(
    area: AreaResult,
    service: Any,
    user: int,
    label: str,
    n: int,
    target: float | None,
    part_text: list[str],
    growth: list[str],
    cache: Any,
    until_cached: bool = False,
) -> None:
    session = service.start(user, f"Saving bench ({label})", {"genre": "test"})
    service.open(user, session.id)  # in the hot set, as an open story is
    suffix = ", until Redis has it too" if until_cached else ""

    def settled() -> None:
        # Saves come a second or more apart in use (checkpoints) or at a writer's pace
        # (appends): the previous save's hot-copy write has long reached Redis when the next
        # one starts. Waiting for it untimed keeps this loop from timing its own backlog.
        cache.flush()

    def append(i: int) -> None:
        content = part_text[i % len(part_text)]
        service.append_part(user, session.id, direction="Go on.", content=content)
        if until_cached:
            settled()

    appends = time_calls(append, n, warmup=5, before=lambda _i: settled())
    add_percentiles(
        area, f"append a part (~470 words){suffix} — {label}", appends, target_p99=target
    )

    streaming: dict[str, Any] = {"seq": 0, "content": "", "step": 0}
    per_part = len(growth)

    def before(_i: int) -> None:
        # A new streaming part every `per_part` checkpoints (untimed: that's an append).
        step = streaming["step"]
        streaming["step"] = step + 1
        if step % per_part == 0:
            if streaming["seq"]:
                service.checkpoint_part(
                    user, session.id, streaming["seq"], streaming["content"], state=_done()
                )
            part = service.begin_part(
                user, session.id, direction="And then?", model_name="gemma3:latest"
            )
            streaming["seq"], streaming["content"] = part.seq, ""
        sep = "\n\n" if streaming["content"] else ""
        streaming["content"] += sep + growth[step % per_part]
        settled()

    def checkpoint(_i: int) -> None:
        service.checkpoint_part(user, session.id, streaming["seq"], streaming["content"])
        if until_cached:
            settled()

    checkpoints = time_calls(checkpoint, n, warmup=3, before=before)
    add_percentiles(
        area,
        f"streaming checkpoint (text grows to ~4,500 words){suffix} — {label}",
        checkpoints,
        target_p99=target,
    )


def _done():  # type: ignore[no-untyped-def]
    from storyterm.core.storage.tables import PartState

    return PartState.DONE
