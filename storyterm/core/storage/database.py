"""The database engine (SQLite by default, Postgres for teams) and bringing its schema to head."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import re
import secrets
import select
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError

from storyterm.core.basics import (
    HEAD_REVISION,
    META_CACHE_KEY,
    META_DATABASE_ID,
    META_JWT_SECRET,
    unicode_lower,
)
from storyterm.core.storage.file_modes import (
    MIGRATE_LOCK_SUFFIX,
    create_private_file,
    make_private_folder,
    open_private,
    secure_sqlite_files,
)
from storyterm.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "META_CACHE_KEY", "META_DATABASE_ID", "META_JWT_SECRET"]


#: How long a SQLite writer waits for another one to finish before giving up with a message.
SQLITE_BUSY_TIMEOUT_S = 10.0


def _migrations_dir() -> Path:
    """Where the migration scripts are: the storyterm.migrations package (the repository's
    top-level migrations/ folder, mapped into the package by pyproject.toml and shipped in the
    wheel)."""
    spec = importlib.util.find_spec("storyterm.migrations")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent
    # A source checkout run without installing it: the folder beside the package.
    return Path(__file__).resolve().parents[3] / "migrations"


MIGRATIONS_DIR = _migrations_dir()

log = logging.getLogger(__name__)

#: SQLite's own automatic WAL checkpoint stays on as a backstop, at this many pages (~32 MB),
#: in case the checkpoint thread cannot keep up (its default is 1,000).
WAL_BACKSTOP_PAGES = 8000
#: The checkpoint thread runs as soon as writing pauses for this long (the best moment: the
#: checkpoint completes, and the next write starts the WAL from its beginning again)...
CHECKPOINT_WHEN_QUIET_S = 0.25
#: ...and at the latest this long after the first commit it has not checkpointed yet, or after
#: this many commits, while writing never pauses.
CHECKPOINT_AT_LATEST_S = 5.0
CHECKPOINT_AT_MOST_COMMITS = 256

_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL is durable against a crash of storyterm; only a power cut can lose the last
    # commits, and never corrupts the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.close()
    # SQLite's own lower() folds ASCII only, so a title search (ILIKE, which SQLAlchemy turns
    # into lower(..) LIKE lower(..)) for "émile" missed "Émile's Garden". Python's is Unicode.
    dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)


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
                # The writer's alone: every story, the password hashes, the signing secret.
                make_private_folder(path.parent)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"Cannot create the folder for the database file {path}: {exc.strerror}. "
                    "Point STORYTERM_DATABASE_URL at a writable place."
                ) from exc
            try:
                create_private_file(path)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"Cannot create the database file {path}: {exc.strerror}. Point "
                    "STORYTERM_DATABASE_URL at a writable place."
                ) from exc
            secure_sqlite_files(path)
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
        if database and database != ":memory:":
            checkpointer = WalCheckpointer(str(path))
            _CHECKPOINTERS[engine] = checkpointer
            event.listen(engine, "commit", lambda _conn: checkpointer.committed())
            event.listen(engine, "engine_disposed", lambda _engine: checkpointer.close())
        return engine
    if backend == "postgresql":
        engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
        event.listen(engine, "checkout", _drop_if_server_left)
        return engine
    raise DatabaseUnavailable(
        f"storyterm works with SQLite and PostgreSQL, not {backend!r}. Fix STORYTERM_DATABASE_URL."
    )


def wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """The checkpoint thread's keeper of a SQLite file engine (None for others)."""
    return _CHECKPOINTERS.get(engine)


class WalCheckpointer:
    """Runs SQLite's WAL checkpoints on a thread of its own, off the writers' commits.

    SQLite checkpoints automatically inside the commit that takes the WAL past 1,000 pages, so
    about one save in a hundred paid for copying the WAL into the database file and two fsyncs
    (the saving tail in bench/RESULTS.md). Here a commit only counts; the thread runs PASSIVE
    checkpoints, which neither wait for nor block readers and writers, on a connection of its
    own (sqlite3 releases the GIL while it works). The thread starts at the first commit and
    ends when the engine is disposed, after a last checkpoint.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Condition()
        self._pending = 0
        self._first_pending_at = 0.0
        self._last_commit_at = 0.0
        self._closing = False
        self._thread: threading.Thread | None = None
        #: Checkpoints run so far (tests and the benchmark read it).
        self.checkpoints = 0

    def committed(self) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._pending:
                self._first_pending_at = now
            self._last_commit_at = now
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._closing = False
                self._thread = threading.Thread(
                    target=self._run, name="storyterm-wal-checkpoint", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def _wait(self) -> bool:
        """Wait until a checkpoint is due (True) or the engine is gone (False). Holds the lock."""
        while True:
            if self._closing:
                return False
            if self._pending:
                due = min(
                    self._first_pending_at + CHECKPOINT_AT_LATEST_S,
                    self._last_commit_at + CHECKPOINT_WHEN_QUIET_S,
                )
                wait = (
                    0.0 if self._pending >= CHECKPOINT_AT_MOST_COMMITS else due - time.monotonic()
                )
                if wait <= 0:
                    return True
                self._lock.wait(wait)
            else:
                self._lock.wait()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.warning("cannot open %s for WAL checkpoints: %s", self.path, exc)
            return
        try:
            conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            while True:
                with self._lock:
                    more = self._wait()
                    self._pending = 0
                self._checkpoint(conn)
                if not more:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # the backstop checkpoint still bounds the WAL
            log.warning("WAL checkpoint of %s failed: %s", self.path, exc)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=SQLITE_BUSY_TIMEOUT_S + 5)


def _drop_if_server_left(dbapi_connection, _record, _proxy) -> None:
    """Checkout check for a pooled PostgreSQL connection, without a round trip.

    An idle connection has nothing to read. When the server goes away (a restart, an admin
    ending idle sessions) it says so and closes the socket, which makes the socket readable:
    then, and only then, the connection is asked (`SELECT 1`), and a dead one makes the pool
    open a fresh one. SQLAlchemy's pool_pre_ping asked on every checkout instead: a round trip
    added to every save (bench/FINDINGS.md).
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection to PostgreSQL is closed")
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if not poll.poll(0):
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:  # any failure here means: do not use this connection
        raise DisconnectionError(f"PostgreSQL closed the connection: {exc}") from exc


def _disable_pysqlite_begin(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.info.pop("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


#: What a database (SQLite, PostgreSQL) or the system says when a write fails for want of
#: room or permission, and the few words a writer is told for it. Matched in lower case.
_CAUSES = (
    (
        ("database or disk is full", "no space left on device", "could not extend file"),
        "the disk holding the database is full",
    ),
    (
        ("readonly database", "read-only file system", "read-only transaction"),
        "the database cannot be written to (it is read-only)",
    ),
    (("disk i/o error", "input/output error"), "the disk holding the database failed"),
    (("database is locked",), "another program kept the database locked"),
    (("unable to open database file",), "the database file cannot be opened"),
    (
        (
            "connection refused",
            "could not connect",
            "server closed the connection",
            "terminating connection",
            "connection to server",
            "connection is closed",
        ),
        "the database server cannot be reached",
    ),
)


def _reason(exc: BaseException) -> str:
    """The first line of what the database said."""
    text = str(getattr(exc, "orig", exc) or exc).strip()
    return text.splitlines()[0] if text else ""


def error_cause(exc: BaseException) -> str | None:
    """The real cause of a failed database call in a few words ("the disk holding the
    database is full"), or None when it is none of the known ones."""
    reason = _reason(exc).lower()
    for signs, cause in _CAUSES:
        if any(sign in reason for sign in signs):
            return cause
    return None


def describe_error(url: str, exc: BaseException) -> str:
    reason = _reason(exc) if str(exc) else ""
    cause = error_cause(exc)
    if cause == _CAUSES[0][1]:
        return (
            f"The disk holding the database at {redact(url)} is full ({reason}). Free some space "
            "on it, then try again."
        )
    if cause == _CAUSES[1][1]:
        return (
            f"The database at {redact(url)} cannot be written to ({reason}). Check that its "
            "file and folder are writable by you, or that the server accepts writes."
        )
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


def describe_data_error(exc: BaseException) -> str:
    """What a database that is up said about data it refused (a value too long or out of
    range, a character it cannot store): a data error, never "cannot open the database"."""
    reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
    said = f" (the database said: {reason[0][:200]})" if reason else ""
    return (
        f"The database refused this data{said}. Nothing was saved; shorten or correct the "
        "value and try again."
    )


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[sa.Connection]:
    """Hold a lock so that two processes opening one database migrate it once."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        lock_file = None
        if path and path != ":memory:":
            lock_file = open_private(Path(path).expanduser().with_suffix(MIGRATE_LOCK_SUFFIX))
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


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped with storyterm; `connection` is
    the one migrations/env.py runs them on (None: only the scripts are read)."""
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

    scripts = ScriptDirectory.from_config(_alembic_config())
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

    config = _alembic_config()
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


def ensure_meta(engine: Engine) -> dict[str, str]:
    """Make sure this database has its id, a JWT secret and a cache key, each generated once
    (an older database gets what it lacks on its next open); return app_meta."""
    wanted = {
        META_DATABASE_ID: lambda: str(uuid.uuid4()),
        META_JWT_SECRET: lambda: secrets.token_urlsafe(48),
        META_CACHE_KEY: lambda: secrets.token_urlsafe(32),
    }
    with engine.connect() as conn:
        rows: dict[str, str] = dict(conn.execute(sa.text("SELECT key, value FROM app_meta")).all())
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
