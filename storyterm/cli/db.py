"""`storyterm db upgrade|current` and `storyterm doctor`."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storyterm.cli.common import get_runtime, handle_errors, say, styled
from storyterm.core.storage import database, file_modes
from storyterm.core.storage.cache import Cache, CacheState
from storyterm.errors import DatabaseUnavailable, StorytermError
from storyterm.settings import Settings


@click.group("db")
def db_group() -> None:
    """The database schema (migrations)."""


@db_group.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Bring the database to the newest schema (storyterm also does this on its own)."""
    url = get_runtime().settings.resolved_database_url
    engine = database.make_engine(url)
    try:
        before = database.current_revision(engine)
        database.upgrade(engine)
        after = database.current_revision(engine)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable(database.describe_error(url, exc)) from exc
    finally:
        engine.dispose()
    if before == after:
        say(f"{database.redact(url)} is already at {after} (head).")
    else:
        say(f"Upgraded {database.redact(url)}: {before or 'empty'} -> {after}.")


@db_group.command("current")
@handle_errors
def db_current() -> None:
    """Show the revision the database is at."""
    url = get_runtime().settings.resolved_database_url
    engine = database.make_engine(url)
    try:
        revision = database.current_revision(engine)
    except Exception as exc:
        raise DatabaseUnavailable(database.describe_error(url, exc)) from exc
    finally:
        engine.dispose()
    head = database.HEAD_REVISION
    if revision == head:
        state = "head"
    elif revision is not None and revision not in database.known_revisions():
        state = "newer than this storyterm knows: upgrade storyterm"
    else:
        state = f"behind: head is {head}; run `storyterm db upgrade`"
    say(f"{database.redact(url)}: {revision or 'empty'} ({state})")


def _line(ok: bool, what: str, detail: str, *, warn: bool = False) -> bool:
    """One line of the check-up; `warn`: it works, but not the way the settings ask."""
    if not ok:
        mark = styled("FAIL", fg="red")
    elif warn:
        mark = styled("WARN", fg="yellow")
    else:
        mark = styled("OK  ", fg="green")
    say(mark, f" {what}: {detail}")
    return ok


def _live_events(settings: Settings, database_id: str | None) -> None:
    """A probe event through Redis and back, as every window's changes travel. Optional like
    the cache: without it windows watch the database, so it warns, never fails."""
    from storyterm.core.events.channel import Channel
    from storyterm.core.events.probe import LiveState, check_live_events
    from storyterm.core.events.publisher import Publisher

    publisher = Publisher(settings.redis_url or None, Channel(database_id or "doctor"))
    try:
        check = check_live_events(publisher)
    finally:
        publisher.close()
    detail = f"{check.state.label}: {check.detail}"
    if check.round_trip_ms is not None:
        detail += f" (a probe went round in {check.round_trip_ms:.1f} ms)"
    _line(True, "live events", detail, warn=check.state is LiveState.DATABASE_WATCH)


def _ollama(settings: Settings) -> bool:
    """Ollama's lines: reachable, version, models, the model new stories use, its context."""
    import asyncio

    from storyterm.core.generation.catalog import ModelCatalog
    from storyterm.core.generation.checkup import Verdict, check_ollama

    healthy = True
    for finding in asyncio.run(check_ollama(ModelCatalog(settings))):
        healthy &= _line(
            finding.verdict is not Verdict.FAIL,
            finding.what,
            finding.detail,
            warn=finding.verdict is Verdict.WARN,
        )
    return healthy


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL, in-memory or a URL that is not one."""
    try:
        parsed = make_url(database.normalise_url(url))
    except ArgumentError:
        return None
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name).expanduser()


def _permissions(data_dir: Path, url: str) -> bool:
    """Only the writer may read the data folder and the SQLite files: tighten what is looser
    (storyterm does so on every open too) and say what was changed."""
    path = _sqlite_path(url)
    fixed = file_modes.secure_data_folder(data_dir)
    if path is not None:
        fixed += file_modes.secure_sqlite_files(path)
    left = file_modes.problems(data_dir, path)
    if left:
        return _line(False, "permissions", "; ".join(left))
    if path is not None:
        rule = "only you can read the data folder (0700) and the database files (0600)"
    else:
        rule = (
            "only you can read the data folder (0700); the PostgreSQL server decides who can "
            "read the database"
        )
    if fixed:
        return _line(True, "permissions", f"{rule}; tightened {', '.join(fixed)}")
    return _line(True, "permissions", rule)


@click.command("doctor")
def doctor_cmd() -> None:
    """Check the settings, data folder, database, migrations, Redis, the keyring and Ollama
    (its version, models, and the model new stories use); say what to do for each."""
    try:
        settings = get_runtime().settings
    except StorytermError as exc:
        # doctor is where a writer goes when storyterm will not start: report, do not crash.
        _line(False, "settings", exc.message)
        raise SystemExit(1) from None
    url = settings.resolved_database_url
    healthy = True

    data_dir = settings.data_dir.expanduser()
    try:
        file_modes.make_private_folder(data_dir)
        writable = os.access(data_dir, os.W_OK)
    except OSError:
        writable = False
    healthy &= _line(
        writable,
        "data folder",
        str(data_dir) if writable else f"{data_dir} is not writable; set STORYTERM_DATA_DIR",
    )
    healthy &= _permissions(data_dir, url)

    engine = None
    try:
        engine = database.make_engine(url)
        revision = database.current_revision(engine)
        healthy &= _line(True, "database", f"{database.redact(url)} ({engine.dialect.name})")
        at_head = revision == database.HEAD_REVISION
        if at_head:
            detail = f"at {revision} (head)"
        elif revision is None:
            detail = "empty: storyterm creates the schema on first use"
        elif revision not in database.known_revisions():
            detail = database.unknown_revision_message(url, revision)
        else:
            detail = f"at {revision}; run `storyterm db upgrade`"
        healthy &= _line(at_head or revision is None, "migrations", detail)
        database_id = None
        if at_head:  # never write to a database doctor is only looking at for trouble
            database_id = database.ensure_meta(engine).get(database.META_DATABASE_ID)
    except DatabaseUnavailable as exc:
        healthy &= _line(False, "database", exc.message)
        database_id = None
    except Exception as exc:
        healthy &= _line(False, "database", database.describe_error(url, exc))
        database_id = None
    finally:
        if engine is not None:
            engine.dispose()

    if not settings.redis_url:
        _line(True, "cache", "off (STORYTERM_REDIS_URL is empty); storyterm uses the database")
    else:
        cache = Cache(settings.redis_url, namespace=database_id or "doctor")
        state = cache.ping()
        cache.close()
        # Redis is optional: report it, but a missing cache is not a failure.
        _line(
            True,
            "cache",
            f"redis at {database.redact(settings.redis_url)}"
            if state is CacheState.ONLINE
            else (
                f"offline ({cache.last_error}); storyterm works without it. Start Redis or set "
                "STORYTERM_REDIS_URL= to turn the cache off"
            ),
        )
    _live_events(settings, database_id)
    from storyterm.core.identity.accounts import TokenStore

    tokens = TokenStore(database_id or "doctor")
    # No keyring is a normal headless setup, not a failure: say what it means.
    _line(
        True,
        "keyring",
        f"logins are kept in the {tokens.backend_name}"
        if tokens.available
        else (
            f"{tokens.unavailable_reason}: a login lasts one command. Use STORYTERM_TOKEN "
            "(`storyterm login --print-token`) to stay logged in"
        ),
    )
    healthy &= _ollama(settings)
    if not healthy:
        raise SystemExit(1)


COMMANDS = [db_group, doctor_cmd]
