"""The FastAPI app factory: `create_app(runtime)` builds a fresh app over one Runtime."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from storyterm import __version__
from storyterm.api.errors import install_error_handlers
from storyterm.api.limits import BodyLimit
from storyterm.api.routes import (
    auth,
    bible,
    events,
    health,
    history,
    lore,
    models,
    options,
    search,
    sessions,
    story,
)
from storyterm.api.streaming import STOP_GRACE_SECONDS, Generations
from storyterm.core.runtime import Runtime
from storyterm.errors import StorytermError

log = logging.getLogger("storyterm.api")

DESCRIPTION = """
The sessions of the storyterm writing room over HTTP, for editor plugins, web pages and
scripts. The same accounts, sessions and rules as the terminal app.

Log in with `POST /api/auth/login` and send the token as `Authorization: Bearer <token>`.
Every failure answers `{"error": {"code": ..., "message": ...}}`.

A request body may be at most 1 MiB (login: 64 KiB); a larger one is refused with 413 before
it is read, whether it declares its length or is sent in chunks.
"""

TAGS = [
    {
        "name": "auth",
        "description": "Log in and out (accounts are made with `storyterm register`).",
    },
    {"name": "story", "description": "Start a story and write it part by part."},
    {"name": "sessions", "description": "List, read, pause, resume, complete, delete, save."},
    {
        "name": "takes",
        "description": "Every take (version) of a part: list them, choose one, edit (a new one).",
    },
    {"name": "history", "description": "Undo and redo a story's changes; reopen a completed one."},
    {"name": "trash", "description": "Deleted stories and parts, until restored or emptied."},
    {"name": "lore", "description": "A story's lorebook: entries sent when their keys come up."},
    {"name": "models", "description": "The Ollama models a story can be written with."},
    {"name": "search", "description": "Find words in your stories' parts."},
    {"name": "events", "description": "Every change to your sessions as it happens (SSE)."},
    {"name": "health", "description": "Whether the database, the cache and Ollama answer."},
]


def create_app(runtime: Runtime, *, worker: bool = False, own_process: bool = False) -> FastAPI:
    """A new app serving `runtime`. The caller owns the runtime and closes it, except with
    `worker=True` (a worker process of `storyterm serve --workers N`, api/workers.py): the app
    then closes the runtime when it shuts down, and stops its running generations the moment
    the worker is asked to quit, as `storyterm serve` does for its one process.

    With `own_process` (`storyterm serve`; implied by `worker`), the app is all the process
    serves: once started, what start-up loaded is frozen out of the garbage collector's full
    passes (`_freeze_start_up`)."""

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        if worker:
            from storyterm.api.stopping import stop_generations_on_signals

            restore = stop_generations_on_signals(served.state.generations)
            try:
                async with _serving(served):
                    yield
            finally:
                restore()
                await run_in_threadpool(runtime.close)
        else:
            async with _serving(served):
                yield

    @asynccontextmanager
    async def _serving(served: FastAPI) -> AsyncIterator[None]:
        # Open the database (and migrate it) once, before the first request, rather than in
        # whichever request comes first. A database that is down is reported by /api/health
        # and by every call that needs it; the server still starts.
        try:
            await run_in_threadpool(lambda: runtime.store)
        except StorytermError as exc:
            log.warning("database not available at start-up: %s", exc.message)
        # LangChain too (about a second of imports): imported by the first generation instead,
        # it would hold the event loop, and every request of this process, for that second.
        await run_in_threadpool(_import_generation)
        if served.state.own_process:
            await run_in_threadpool(_warm_first_part, runtime)
            _freeze_start_up()
        yield
        # Shutting down: a generation still running is stopped and its part saved (marked
        # interrupted) before the process ends.
        await served.state.generations.finish_all(STOP_GRACE_SECONDS)

    app = _StorytermAPI(
        title="storyterm",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # Operation ids from the function names (list_sessions, pause_session, ...): what
        # generated clients show.
        generate_unique_id_function=lambda route: route.name,
    )
    app.add_middleware(BodyLimit)
    app.state.runtime = runtime
    #: Whether the app is all its process serves (`storyterm serve`, a worker).
    app.state.own_process = worker or own_process
    #: Running generations; `storyterm serve` stops them all when it is asked to quit.
    app.state.generations = Generations()
    install_error_handlers(app)
    routers = (auth, story, sessions, bible, search, events, options, lore, history, models, health)
    for module in routers:
        app.include_router(module.router)
    return app


def _import_generation() -> None:
    try:
        import langchain_ollama  # noqa: F401

        import storyterm.core.memory.prompt  # noqa: F401
    except ImportError as exc:  # the first generation says what is missing
        log.warning("the model libraries cannot be imported: %s", exc)


def _warm_first_part(runtime: Runtime) -> None:
    """What each server process's first part did on the event loop, every stream of the
    process waiting (20-60 ms under load): load the CA bundle for the Ollama clients, start
    the generation's database threads and import what LangChain loads at a first stream
    (Storyteller.warm). A failure here is the first part's to report."""
    try:
        from storyterm.core.generation.catalog import shared_ssl_context

        shared_ssl_context()
        runtime.storyteller.warm()
    except Exception as exc:
        log.warning("could not prepare for the first part: %s", exc)


def _freeze_start_up() -> None:
    """Move what start-up built (FastAPI, SQLAlchemy, LangChain and the Ollama client: ~110,000
    objects the collector tracks) out of the collector's reach: it lives as long as the
    process, and each full collection walked all of it again with the event loop held, every
    request and stream of the worker waiting (120-900 ms a pass under the team load,
    bench/FINDINGS.md). Only for a process that is the server: a frozen object is never
    collected, so an app made and dropped many times in one process (the tests) must not."""
    gc.collect()  # start-up's own garbage goes now, not into the frozen heap
    gc.freeze()


class _StorytermAPI(FastAPI):
    """FastAPI whose OpenAPI document describes the event stream by its frames alone."""

    def openapi(self) -> dict[str, Any]:
        made_now = self.openapi_schema is None
        schema = super().openapi()  # made once, then kept in openapi_schema
        if made_now:
            _describe_event_streams(schema)
        return schema


def _describe_event_streams(schema: dict[str, Any]) -> None:
    """FastAPI types any non-JSON body as a string and merges the response model into that;
    for the event stream the frame schemas alone are the description (each frame is one of
    them), so the contradictory `"type": "string"` is dropped."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                stream = response.get("content", {}).get("text/event-stream", {})
                if "anyOf" in stream.get("schema", {}):
                    stream["schema"].pop("type", None)
