"""Shared fixtures: an isolated storyterm home per test, real SQLite, Redis and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import MemoryKeyring
from tests.services import PostgresServer, RedisServer, create_database, drop_database

REQUIRE_SERVICES = os.environ.get("STORYTERM_REQUIRE_SERVICES") == "1"
#: STORYTERM_* variables that steer the test run, not storyterm: kept when a test's settings
#: are cleared (a seed set to reproduce a schemathesis failure must reach that test).
TEST_RUN_KNOBS = frozenset(
    {
        "STORYTERM_REQUIRE_SERVICES",
        "STORYTERM_TEST_REDIS_URL",
        "STORYTERM_TEST_DATABASE_URL",
        "STORYTERM_SCHEMATHESIS_SEED",
        "STORYTERM_SCHEMATHESIS_EXAMPLES",
    }
)


def service_missing(reason: str) -> None:
    """Skip a test whose server is missing, or fail it where CI demands every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (STORYTERM_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def storyterm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data, config and export folders and no ambient settings:
    nothing here ever touches the real user's files or the machine's default Redis."""
    for name in list(os.environ):
        if name.startswith("STORYTERM_") and name not in TEST_RUN_KNOBS:
            monkeypatch.delenv(name)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("STORYTERM_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("STORYTERM_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("STORYTERM_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("STORYTERM_EXPORT_DIR", str(home / "exports"))
    monkeypatch.setenv("STORYTERM_REDIS_URL", "")
    # Nothing listens here: a test that forgets to start its Ollama stand-in fails fast.
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory keyring in place of the OS keyring: logins made by a
    test never reach the real user's keyring, and a test can look at what was stored."""
    import keyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with tiny parameters: the real algorithm and code paths, without spending a
    quarter second of both CPU cores per password (test_identity checks the real parameters)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(
        "storyterm.core.identity.accounts.default_hasher",
        lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    )


@pytest.fixture
def no_keyring(memory_keyring: MemoryKeyring) -> Iterator[None]:
    """A machine without a keyring backend (a headless Linux box): keyring's fail backend."""
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(memory_keyring)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | str]:
    """A Redis server of the tests' own (or STORYTERM_TEST_REDIS_URL's)."""
    url = os.environ.get("STORYTERM_TEST_REDIS_URL")
    if url:
        yield url
        return
    try:
        server = RedisServer()
    except FileNotFoundError as exc:
        service_missing(str(exc))
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer | str) -> Iterator[str]:
    """A Redis URL for one test, restarted if an earlier test left it stopped, and flushed."""
    import redis

    if isinstance(redis_server, RedisServer):
        if redis_server.proc is None or redis_server.proc.poll() is not None:
            redis_server.start()
        url = redis_server.url
    else:
        url = redis_server
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture
def own_redis(redis_server: RedisServer | str) -> RedisServer:
    """The tests' own Redis process, for tests that stop and restart it."""
    if not isinstance(redis_server, RedisServer):
        pytest.skip("fault tests need a Redis of their own (STORYTERM_TEST_REDIS_URL is set)")
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    return redis_server


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("STORYTERM_TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        server = PostgresServer()
        server.start()
    except (FileNotFoundError, OSError) as exc:
        service_missing(f"PostgreSQL cannot be started here: {exc}")
    except Exception as exc:  # initdb/pg_ctl failed: say why
        service_missing(f"PostgreSQL cannot be started here: {exc}")
    yield server.admin_url
    server.close()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = create_database(postgres_admin_url)
    yield url
    drop_database(postgres_admin_url, url)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated to head once, copied for each test that just needs a schema
    (migrating costs more than copying). Its app_meta is emptied so every copy gets its own
    database id when storyterm opens it."""
    import sqlalchemy as sa

    from storyterm.core.storage.database import open_database

    url = create_database(postgres_admin_url)
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM app_meta"))
    engine.dispose()
    yield url.rsplit("/", 1)[1]
    drop_database(postgres_admin_url, url)


@pytest.fixture
def postgres_migrated_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database already at the head revision."""
    url = create_database(postgres_admin_url, template=postgres_template)
    yield url
    drop_database(postgres_admin_url, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'stories.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL (the latter already at head)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stories.db'}"
    return request.getfixturevalue("postgres_migrated_url")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty SQLite file and an empty PostgreSQL database (for migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stories.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def healthy_ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An Ollama stand-in with the preferred model at OLLAMA_HOST, for tests of a setup that
    should check out whole (`storyterm doctor` asks Ollama too). Yields its URL."""
    from storyterm.devtools.fake_ollama import FakeOllama

    with FakeOllama(models=["gemma3:latest"]) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        yield fake.url
