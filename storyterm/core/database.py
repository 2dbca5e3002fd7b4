"""The database engine (SQLite by default, Postgres for teams) and bringing its schema to head."""

from __future__ import annotations

import contextlib
import fcntl
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from storyterm.core.errors import DatabaseUnavailable

#: The newest migration. A test checks it against the migration scripts, so that opening a
#: database that is already at head never has to load Alembic (start-up stays fast).
HEAD_REVISION = "0001_initial"

#: How long a SQLite writer waits for another one to finish before giving up with a message.
SQLITE_BUSY_TIMEOUT_S = 10.0

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def redact(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def normalise_url(url: str) -> str:
    """Accept the URLs people paste: postgres:// and postgresql:// both mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL is durable against a crash of storyterm; only a power cut can lose the last
    # commits, and never corrupts the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.close()
    # SQLite's own lower() folds ASCII only, so a title search (ILIKE, which SQLAlchemy turns
    # into lower(..) LIKE lower(..)) for "émile" missed "Émile's Garden". Python's is Unicode.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str) -> Engine:
    """An engine for the URL, with SQLite in WAL mode and foreign keys on."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(
            f"The database URL {url!r} is not a URL storyterm understands. Use "
            "sqlite:////path/to/file.db or postgresql://user@host/dbname in "
            "STORYTERM_DATABASE_URL."
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            path = Path(database).expanduser()
            # sqlite3 does not expand "~" itself: "sqlite:///~/stories.db" would open a file
            # under a folder literally named "~" in the current directory.
            parsed = parsed.set(database=str(path))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"Cannot create the folder for the database file {path}: {exc.strerror}. "
                    "Point STORYTERM_DATABASE_URL at a writable place."
                ) from exc
        engine = sa.create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling does not emit BEGIN until the first write, which
        # lets two writers both read "next seq = 5". Emit BEGIN ourselves (IMMEDIATE when a write
        # lock is wanted, see store.write_transaction).
        event.listen(engine, "connect", _disable_pysqlite_begin)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )
    raise DatabaseUnavailable(
        f"storyterm works with SQLite and PostgreSQL, not {backend!r}. Fix STORYTERM_DATABASE_URL."
    )


def _disable_pysqlite_begin(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.info.pop("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def describe_error(url: str, exc: BaseException) -> str:
    reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0] if str(exc) else ""
    if "database is locked" in reason:
        # SQLite waited out its busy timeout: the file is fine, another program holds it.
        return (
            f"The database at {redact(url)} is busy: another program has kept it locked for "
            "too long. Nothing was lost; try again in a moment."
        )
    return (
        f"Cannot open the database at {redact(url)} ({reason}). Check that it is running and "
        "that STORYTERM_DATABASE_URL is right, then try again; `storyterm doctor` checks it."
    )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[sa.Connection]:
    """Hold a lock so that two processes opening one database migrate it once."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        lock_file = None
        if path and path != ":memory:":
            lock_file = open(Path(path).expanduser().with_suffix(".migrate.lock"), "w")  # noqa: SIM115
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            if lock_file is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                lock_file.close()
    else:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(7261839)"))
            conn.commit()
            try:
                yield conn
            finally:
                # A failed migration leaves the transaction aborted; end it before unlocking,
                # or the unlock itself fails and hides the real error.
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(7261839)"))
                conn.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return _revision_on(conn)


def _alembic_config(connection: sa.Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (head by default), once, whoever else is opening it."""
    from alembic import command

    with _migration_lock(engine) as conn:
        current = _revision_on(conn)
        if current is not None and current not in known_revisions():
            raise DatabaseUnavailable(unknown_revision_message(str(engine.url), current))
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()


def _revision_on(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def known_revisions() -> set[str]:
    """Every revision this storyterm's migration scripts know."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    return {script.revision for script in scripts.walk_revisions()}


def unknown_revision_message(url: str, revision: str) -> str:
    from storyterm import __version__

    return (
        f"The database at {redact(url)} has schema revision {revision!r}, which this storyterm "
        f"({__version__}) does not know: a newer storyterm has upgraded it. Upgrade storyterm "
        "here (pip install -U storyterm); nothing was changed."
    )


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """An engine whose schema is at head: an empty or older database is migrated first."""
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
        if revision != HEAD_REVISION:
            if revision is not None and revision not in known_revisions():
                raise DatabaseUnavailable(unknown_revision_message(url, revision))
            if not migrate:
                raise DatabaseUnavailable(
                    f"The database at {redact(url)} is at revision {revision or 'none'}, not "
                    f"{HEAD_REVISION}. Run `storyterm db upgrade`."
                )
            upgrade(engine)
        ensure_meta(engine)
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise DatabaseUnavailable(describe_error(url, exc)) from exc
    return engine


META_DATABASE_ID = "database_id"
META_JWT_SECRET = "jwt_secret"


def ensure_meta(engine: Engine) -> dict[str, str]:
    """Make sure this database has its id and a JWT secret, generated once; return app_meta."""
    wanted = {
        META_DATABASE_ID: lambda: str(uuid.uuid4()),
        META_JWT_SECRET: lambda: secrets.token_urlsafe(48),
    }
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT key, value FROM app_meta")).all())
    missing = [key for key in wanted if key not in rows]
    if missing:
        with engine.begin() as conn:
            for key in missing:
                value = wanted[key]()
                if engine.dialect.name == "sqlite":
                    stmt = "INSERT OR IGNORE INTO app_meta (key, value) VALUES (:k, :v)"
                else:
                    stmt = (
                        "INSERT INTO app_meta (key, value) VALUES (:k, :v) "
                        "ON CONFLICT (key) DO NOTHING"
                    )
                conn.execute(sa.text(stmt), {"k": key, "v": value})
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT key, value FROM app_meta")).all())
    return rows
