"""/api/health: database, cache, live events and Ollama, each with a state. It never answers
500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from storyterm.api.deps import RuntimeDep
from storyterm.api.schemas import ComponentHealth, DatabaseHealth, HealthResponse
from storyterm.core.generation.catalog import NO_MODELS_MESSAGE
from storyterm.core.runtime import Runtime
from storyterm.core.storage.database import describe_error
from storyterm.errors import StorytermError

log = logging.getLogger("storyterm.api")

router = APIRouter(tags=["health"])

#: A health check answers quickly even when Ollama hangs.
OLLAMA_CHECK_SECONDS = 3.0


def _database(runtime: Runtime) -> DatabaseHealth:
    try:
        store = runtime.store
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return DatabaseHealth(state="online", backend=store.backend)
    except StorytermError as exc:
        return DatabaseHealth(state="offline", detail=exc.message)
    except Exception as exc:
        return DatabaseHealth(
            state="offline", detail=describe_error(runtime.settings.resolved_database_url, exc)
        )


def _cache(runtime: Runtime, database_open: bool) -> ComponentHealth:
    if not runtime.settings.cache_enabled:
        return ComponentHealth(
            state="disabled", detail="No Redis URL is set (STORYTERM_REDIS_URL)."
        )
    if not database_open:
        return ComponentHealth(state="unknown", detail="Not checked: the database is not open.")
    cache = runtime.store.cache
    state = cache.ping()
    return ComponentHealth(
        state=state.value, detail=cache.last_error if state != "online" else None
    )


def _events(runtime: Runtime, database_open: bool) -> ComponentHealth:
    if not database_open:
        return ComponentHealth(state="unknown", detail="Not checked: the database is not open.")
    from storyterm.core.events.probe import check_live_events

    check = check_live_events(runtime.store.events.publisher)
    return ComponentHealth(state=check.state.value, detail=check.detail)


async def _ollama(runtime: Runtime) -> ComponentHealth:
    try:
        models = await asyncio.wait_for(runtime.models.list_models(), OLLAMA_CHECK_SECONDS)
    except StorytermError as exc:
        return ComponentHealth(state="offline", detail=exc.message)
    except TimeoutError:
        return ComponentHealth(
            state="offline",
            detail=f"Ollama at {runtime.settings.ollama_host} did not answer within "
            f"{OLLAMA_CHECK_SECONDS:g} seconds.",
        )
    if not any(m.can_write for m in models):
        return ComponentHealth(state="no_models", detail=NO_MODELS_MESSAGE)
    return ComponentHealth(state="online")


async def _guard(name: str, check: Awaitable[ComponentHealth]) -> ComponentHealth:
    try:
        return await check
    except Exception:
        log.exception("health check of %s failed", name)
        return ComponentHealth(state="unknown", detail=f"The {name} check failed; see the log.")


@router.get(
    "/api/health",
    summary="Is the database, the cache and Ollama reachable? Are live events flowing?",
    description=(
        "No login needed. 200 while the database answers (status `ok`, or `degraded` when the "
        "cache, live events or Ollama does not); 503 with the same body when the database does "
        "not. Live events are checked by sending a probe through Redis and reading it back "
        "(at most a second)."
    ),
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The database cannot be reached."}},
)
async def health(runtime: RuntimeDep, response: Response) -> HealthResponse:
    try:
        database = await run_in_threadpool(_database, runtime)
    except Exception:
        log.exception("health check of the database failed")
        database = DatabaseHealth(state="unknown", detail="The database check failed; see the log.")
    online = database.state == "online"
    cache, events, ollama = await asyncio.gather(
        _guard("cache", run_in_threadpool(_cache, runtime, online)),
        _guard("live events", run_in_threadpool(_events, runtime, online)),
        _guard("Ollama", _ollama(runtime)),
    )
    status: Literal["ok", "degraded", "unavailable"]
    if not online:
        status = "unavailable"
        response.status_code = 503
    elif (
        cache.state in ("online", "disabled")
        and events.state in ("live", "off")
        and ollama.state == "online"
    ):
        status = "ok"
    else:
        status = "degraded"
    return HealthResponse(
        status=status, database=database, cache=cache, ollama=ollama, events=events
    )
