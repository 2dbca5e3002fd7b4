"""`storyterm serve --workers N`: uvicorn's supervisor over N worker processes on one socket
(each builds its app with storyterm/api/workers.py), and the warnings about a set-up that
will not serve a team well."""

from __future__ import annotations

import logging
from typing import Any

from storyterm.cli.common import say, styled
from storyterm.core.runtime import Runtime

log = logging.getLogger("storyterm.api")

#: How long a worker may take to answer the supervisor's ping before it is killed and replaced
#: (uvicorn's default is 5 s). A worker busy with logins (argon2) and streams on a loaded machine
#: missed 5 s in the team benchmark and was killed, cutting every stream it held; a worker
#: really stuck for this long is rare, and killing a busy one loses more than it saves.
WORKER_HEALTHCHECK_SECONDS = 30
#: The most connections one worker's database pool opens (SQLAlchemy's default QueuePool:
#: 5 kept, 10 more under load).
POOL_CONNECTIONS = 15


def warn_about_setup(runtime: Runtime, workers: int) -> None:
    """Say, before the workers start, what will not work well with several of them."""
    warnings: list[str] = []
    store = runtime.store
    if store.backend == "sqlite":
        warnings.append(
            "the database is a SQLite file: the workers take turns to write it. Use PostgreSQL "
            "(STORYTERM_DATABASE_URL=postgresql://...) for a team."
        )
    else:
        limit = _max_connections(runtime)
        if limit is not None and workers * POOL_CONNECTIONS > limit - 5:
            warnings.append(
                f"{workers} workers may open up to {workers * POOL_CONNECTIONS} database "
                f"connections and PostgreSQL allows {limit}: use fewer workers or raise "
                "max_connections."
            )
    if not runtime.settings.redis_url:
        warnings.append(
            "no Redis is set (STORYTERM_REDIS_URL): writers see each other's changes only by "
            "the database being watched every few seconds."
        )
    for warning in warnings:
        say(styled(f"storyterm: warning: {warning}", fg="yellow"), err=True)


def _max_connections(runtime: Runtime) -> int | None:
    import sqlalchemy as sa

    try:
        with runtime.store.engine.connect() as conn:
            return int(conn.execute(sa.text("SHOW max_connections")).scalar_one())
    except Exception:  # a server that will not say is no reason not to start
        return None


def run_workers(
    host: str, port: int, workers: int, log_config: dict[str, Any], graceful_seconds: int
) -> None:
    """Run uvicorn's supervisor until Ctrl+C, SIGTERM or SIGHUP. Each worker stops its own
    generations first (api/workers.py), so every part being written is saved, marked
    interrupted; a worker that dies is replaced."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from storyterm.api.workers import WORKER_APP

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            # uvicorn restarts the workers on SIGHUP; for storyterm it means the terminal the
            # server runs in was closed (the workers got it too and are stopping): stop.
            self.handle_term()

    config = uvicorn.Config(
        WORKER_APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        log_level="info",
        timeout_graceful_shutdown=graceful_seconds,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    sock = config.bind_socket()
    try:
        Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
