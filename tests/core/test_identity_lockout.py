"""The login lock under fire, on SQLite and PostgreSQL: guesses sent at once (threads and
processes) get at most LOCK_AFTER passwords checked, an unknown username is answered and locked
exactly like a known one, and odd characters in what is typed get a clear refusal."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from storyterm.core.identity.accounts import BAD_CREDENTIALS, LOCK_AFTER, IdentityService
from storyterm.core.storage.store import Store
from storyterm.errors import AuthError, InvalidInput, TooManyAttempts
from storyterm.settings import load_settings

PASSWORD = "correct horse battery"
GUESSES = 50


class SlowHasher(PasswordHasher):
    """argon2 with tiny parameters that takes as long as the real one to verify (the window in
    which guesses sent at once used to get past the count), counting every verification."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        time.sleep(0.2)
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.open(database_url, None)
    yield store
    store.close()


def _guess_all(identity: IdentityService, username: str, n: int) -> list[str]:
    """`n` wrong guesses at once; what each got."""
    barrier = threading.Barrier(n)

    def guess(i: int) -> str:
        barrier.wait(30)
        try:
            identity.login(username, f"wrong guess {i}")
        except TooManyAttempts:
            return "locked"
        except AuthError as exc:
            assert exc.message == BAD_CREDENTIALS
            return "wrong"
        return "in"

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(guess, range(n)))


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_fifty_guesses_at_once_get_at_most_five_checked(store: Store, username: str) -> None:
    IdentityService(store, load_settings()).register("alice", PASSWORD)
    hasher = SlowHasher()
    identity = IdentityService(store, load_settings(), hasher=hasher)
    hasher.hash("warm the dummy hash")  # made before the race, as any first login makes it
    identity._dummy_hash  # noqa: B018
    outcomes = _guess_all(identity, username, GUESSES)
    assert outcomes.count("wrong") == LOCK_AFTER, outcomes
    assert outcomes.count("locked") == GUESSES - LOCK_AFTER
    assert hasher.verified == LOCK_AFTER
    # The lock holds for the right password too, known name or not.
    with pytest.raises(TooManyAttempts, match="Wait 30 seconds"):
        identity.login(username, PASSWORD)


def _guess_in_child(url: str, username: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    try:
        store = Store.open(url, None)
        hasher = SlowHasher()
        identity = IdentityService(store, load_settings(), hasher=hasher)
        identity._dummy_hash  # noqa: B018
        hasher.verified = 0
        barrier.wait(30)
        outcomes = _guess_all(identity, username, 10)
        store.close()
        results.put((outcomes, hasher.verified))
    except BaseException as exc:
        results.put(([repr(exc)], 0))


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_guesses_from_five_processes_at_once_get_at_most_five_checked(
    database_url: str, username: str
) -> None:
    store = Store.open(database_url, None)
    IdentityService(store, load_settings()).register("alice", PASSWORD)
    store.close()
    ctx = multiprocessing.get_context("fork")
    n = 5
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_guess_in_child, args=(database_url, username, barrier, results))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    outcomes = [o for child, _ in got for o in child]
    assert sorted(set(outcomes)) == ["locked", "wrong"], outcomes
    assert outcomes.count("wrong") == LOCK_AFTER
    assert sum(verified for _, verified in got) == LOCK_AFTER


def test_an_unknown_username_is_answered_and_locked_like_a_known_one(store: Store) -> None:
    clock = Clock()
    hasher = SlowHasher()
    identity = IdentityService(store, load_settings(), clock=clock, hasher=hasher)
    identity.register("alice", PASSWORD)
    identity._dummy_hash  # noqa: B018

    def attempt(name: str, password: str = "not the password") -> tuple[str, str, int | None]:
        try:
            identity.login(name, password)
        except AuthError as exc:
            retry = exc.retry_after if isinstance(exc, TooManyAttempts) else None
            return type(exc).__name__, exc.message, retry
        return "in", "", None

    for _ in range(LOCK_AFTER + 2):
        before = hasher.verified
        known, unknown = attempt("alice"), attempt("nobody")
        assert known == unknown  # same error, same message, same wait
        assert known[0] in ("WrongCredentials", "TooManyAttempts")
        if known[0] == "WrongCredentials":  # both checked a password (the same argon2 work)
            assert hasher.verified - before == 2
        clock.now += timedelta(seconds=1)
    assert attempt("alice", PASSWORD)[0] == "TooManyAttempts"
    # The same name in other letter cases is the same name, and shares the lock.
    assert attempt("NOBODY")[0] == attempt("Alice")[0] == "TooManyAttempts"
    clock.now += timedelta(seconds=30)
    assert attempt("alice", PASSWORD)[0] == "in"
    # A success clears alice's count only.
    assert attempt("alice")[0] == "WrongCredentials"
    assert attempt("nobody")[0] == "WrongCredentials"  # its lock ended; one more failure
    assert attempt("nobody")[0] == "TooManyAttempts"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("al\x00ice", PASSWORD, "The username contains a NUL character"),
        ("alice\ud800", PASSWORD, "The username contains a broken character"),
        ("alice", "correct\x00horse", "The password contains a NUL character"),
        ("alice", "correct horse\udfff", "The password contains a broken character"),
    ],
)
def test_characters_no_database_can_store_are_refused_clearly(
    store: Store, username: str, password: str, message: str
) -> None:
    identity = IdentityService(store, load_settings())
    account = identity.register("alice", PASSWORD)
    with pytest.raises(InvalidInput, match=message):
        identity.login(username, password)
    if username == "alice":
        with pytest.raises(InvalidInput, match=message):
            identity.register("bob", password)
        with pytest.raises(InvalidInput, match=message.replace("The", "The current")):
            identity.change_password(account.id, password, "a new long password")
        with pytest.raises(InvalidInput, match=message):
            identity.change_password(account.id, PASSWORD, password + " and more")
    else:
        with pytest.raises(InvalidInput, match="only letters, digits"):
            identity.register(username, PASSWORD)
    # Refused before anything was counted: alice can still log in.
    for _ in range(LOCK_AFTER):
        with pytest.raises(InvalidInput):
            identity.login(username, password)
    identity.login("alice", PASSWORD)
