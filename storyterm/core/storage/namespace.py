"""Where a database's hot copies live in Redis: its namespace, from its id and the server and
place that hold it."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from storyterm.core.storage.database import describe_error
from storyterm.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def cache_namespace(engine: Engine, database_id: str) -> str:
    """The Redis namespace of one database: its id, plus the server and place that hold it.

    The id alone is not enough: a copied SQLite file (a backup opened beside the original, a
    second draft, a file synced to another machine) or a PostgreSQL database restored on
    another server keeps the id, and its MAC key, while its stories go their own way; two
    databases must never share hot entries (their versions can coincide while their parts
    differ). So the namespace also holds:

    - SQLite: the machine's name and the file's real path;
    - PostgreSQL: the cluster's system identifier (a restore made with initdb + pg_dump has
      another), the server's address and port as this connection reaches it (a physical copy,
      which keeps the identifier, runs elsewhere; over a Unix socket: the machine's name and
      the socket), and the database's name.

    Clients of one database on one server share one namespace, as long as they reach the
    server at the same address (a client that reaches it at another only shares less: entries
    are still checked against the database's version).
    """
    if engine.dialect.name == "sqlite":
        where = engine.url.database or ":memory:"
        if where != ":memory:":
            where = os.path.realpath(Path(where).expanduser())
        parts = [socket.gethostname(), where]
    else:
        try:
            parts = _postgres_identity(engine)
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(describe_error(str(engine.url), exc)) from exc
    where = "\0".join(parts)
    return f"{database_id}:{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def _postgres_identity(engine: Engine) -> list[str]:
    """[system identifier, server address, database name] of a PostgreSQL database."""
    with engine.connect() as conn:
        name, addr, port, local_port = conn.execute(
            sa.text(
                "SELECT current_database(), host(inet_server_addr()), inet_server_port(), "
                "current_setting('port')"
            )
        ).one()
        try:
            with conn.begin_nested():
                system = conn.execute(
                    sa.text("SELECT system_identifier FROM pg_control_system()")
                ).scalar_one()
        except DBAPIError as exc:  # a host that hides it (no privilege); the address remains
            if isinstance(exc, OperationalError):
                raise
            log.info("PostgreSQL's system identifier is not readable here: %s", exc.orig)
            system = "unknown"
        if addr is None:  # a Unix socket: the server is on this machine, at this socket
            info = getattr(conn.connection.dbapi_connection, "info", None)
            socket_dir = getattr(info, "host", "") or ""
            addr, port = f"local:{socket.gethostname()}:{socket_dir}", local_port
    return [f"pg:{system}", f"{addr}:{port}", str(name)]
