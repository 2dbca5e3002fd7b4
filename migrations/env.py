"""Alembic environment: runs on the connection storyterm hands it (see core.storage.database.upgrade)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storyterm.core.storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storyterm.core.storage.search import include_object

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from storyterm.core.storage.database import make_engine
        from storyterm.settings import load_settings

        engine = make_engine(load_settings().resolved_database_url)
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
        return
    _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("storyterm migrations run online only: use `storyterm db upgrade`.")
run_migrations_online()
