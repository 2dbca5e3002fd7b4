"""`storyterm serve --workers N`: the app each worker process builds for itself, and what makes
any worker able to answer any request.

uvicorn starts each worker as a fresh interpreter (multiprocessing's spawn) and calls
`create_worker_app` there: the worker reads the settings itself (STORYTERM_* variables and
config.toml, inherited from `storyterm serve`), opens its own database pool and Redis clients,
and closes them when it stops. The parent process only opens the database once first, so that
it is migrated before any worker starts, and hands out the listening socket.

What could differ between workers, and where each lives (checked for issue 16):

- Login lockout: failures are counted per username in the database (`login_attempts`, one
  locked transaction per attempt before the password is checked: core/identity/accounts.py),
  so guesses spread over workers count as one sequence.
- Rate and size limits: the only limits are per request (body size, api/limits.py; input rules,
  api/rules.py); no counter is kept in a process.
- One generation per story at a time: the part is claimed in the database (the session row
  locked, `refuse_while_writing` in core/storage/parts.py), so a second continue on another
  worker gets the same 409 as on one; a pause from any worker reaches the generation through
  its next checkpoint, which reads the session back.
- The JWT secret: STORYTERM_JWT_SECRET, or the one stored once in the database (`app_meta`,
  written with ON CONFLICT DO NOTHING and read back, so workers starting together agree);
  revoked tokens are a database table, and every request checks the token against it.
- Caches: the hot copies are in Redis, sealed and stamped with the story's version, so a copy
  written by one worker and outdated by another is dropped, not shown. In-process memories
  decide nothing: the last prompt sent (kept only when its digest matches the one recorded in
  the database, else rebuilt), Ollama's context lengths (Ollama's own facts), and the list of
  generations running here (only so that this worker stops its own when asked to quit).
- Live events: every worker publishes to the writer's Redis stream, which orders what all of
  them add; a watcher on any worker reads the same stream (or, without Redis, the database).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

#: What uvicorn imports in each worker (`factory=True`: it calls it).
WORKER_APP = "storyterm.api.workers:create_worker_app"


def create_worker_app() -> FastAPI:
    """The app of one worker process, over a runtime of its own that it closes at the end."""
    from storyterm.api.app import create_app
    from storyterm.core.runtime import Runtime

    return create_app(Runtime(), worker=True)
