"""Throwaway Redis and PostgreSQL for the benchmarks: the tests' own servers, never the machine's.

Each is started on first use (on a free port, in a temporary folder, exactly as the tests do) and
stopped when the run ends, whatever happens.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench.common import Skip, log
from tests.services import PostgresServer, RedisServer, create_database, drop_database


class Servers:
    """Lazily started servers shared by the areas of one run."""

    def __init__(self) -> None:
        self._redis: RedisServer | None = None
        self._postgres: PostgresServer | None = None
        self._databases: list[str] = []
        self.versions: dict[str, str] = {}
        self._redis_error: str | None = None
        self._postgres_error: str | None = None

    def disable(self, reason: str) -> None:
        """Start nothing: every area that needs a server reports it as not measured."""
        self._redis_error = self._postgres_error = reason

    # -- Redis ----------------------------------------------------------------------------

    def redis_url(self) -> str:
        """A Redis of our own, flushed (raises Skip when redis-server is missing)."""
        if self._redis_error:
            raise Skip(self._redis_error)
        if self._redis is None:
            try:
                server = RedisServer()
                server.start()
            except (FileNotFoundError, OSError, RuntimeError) as exc:
                self._redis_error = f"Redis cannot be started here: {exc}"
                raise Skip(self._redis_error) from exc
            self._redis = server
            log(f"redis-server started on port {server.port}")
            import redis

            client = redis.Redis.from_url(server.url)
            self.versions["Redis"] = str(client.info("server")["redis_version"])
            client.close()
        import redis

        client = redis.Redis.from_url(self._redis.url)
        client.flushdb()
        client.close()
        return self._redis.url

    # -- PostgreSQL -----------------------------------------------------------------------

    def postgres_url(self) -> str:
        """A fresh, empty database on a cluster of our own (raises Skip without binaries)."""
        if self._postgres_error:
            raise Skip(self._postgres_error)
        if self._postgres is None:
            try:
                server = PostgresServer()
                server.start()
            except Exception as exc:  # FileNotFoundError, initdb/pg_ctl failures: say why
                self._postgres_error = f"PostgreSQL cannot be started here: {exc}"
                raise Skip(self._postgres_error) from exc
            self._postgres = server
            log(f"PostgreSQL started on port {server.port}")
            import psycopg

            with psycopg.connect(server.admin_url) as conn:
                row: Any = conn.execute("SHOW server_version").fetchone()
                self.versions["PostgreSQL"] = str(row[0])
        url = create_database(self._postgres.admin_url)
        self._databases.append(url)
        return url

    def drop_postgres(self, url: str) -> None:
        if self._postgres is not None:
            drop_database(self._postgres.admin_url, url)
            with contextlib.suppress(ValueError):
                self._databases.remove(url)

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        if self._postgres is not None:
            self._postgres.close()
            self._postgres = None
