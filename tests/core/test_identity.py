"""Accounts and tokens on SQLite and PostgreSQL: passwords, lockout, and every bad token refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from storyterm.core.identity.accounts import (
    BAD_CREDENTIALS,
    IdentityService,
    attempts_t,
    describe_wait,
    lock_delay,
    revoked_t,
    users_t,
)
from storyterm.core.storage.database import META_JWT_SECRET, ensure_meta
from storyterm.core.storage.store import Store
from storyterm.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    InvalidToken,
    TooManyAttempts,
    WrongCredentials,
)
from storyterm.settings import load_settings

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand: lockouts and expiry without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class CountingHasher(PasswordHasher):
    """The real hasher, counting verifications (to see the dummy hash being checked)."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        type(self).verified += 1
        return super().verify(hash, password)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.open(database_url, None)
    yield store
    store.close()


@pytest.fixture
def identity(store: Store, clock: Clock) -> IdentityService:
    return IdentityService(store, load_settings(), clock=clock)


def _forge(claims: dict, *, alg: str = "none", key: bytes = b"") -> str:
    """A token by hand, for the shapes PyJWT refuses to make (alg none)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{header}.{body}."


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _secret(store: Store) -> bytes:
    return ensure_meta(store.engine)[META_JWT_SECRET].encode()


# -- accounts ----------------------------------------------------------------------------------


def test_register_login_verify(store: Store, clock: Clock) -> None:
    # The real parameters here (the other tests use cheap ones, see conftest).
    identity = IdentityService(store, load_settings(), clock=clock, hasher=PasswordHasher())
    account = identity.register("Alice", PASSWORD)
    assert account.username == "Alice" and account.created_at == clock.now
    logged_in, token = identity.login("alice", PASSWORD)  # any letter case logs in
    assert logged_in == account
    assert identity.verify(token) == account
    with identity._db() as conn:
        stored = conn.execute(sa.select(users_t.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in stored


def test_usernames_are_unique_regardless_of_case(identity: IdentityService) -> None:
    identity.register("Alice", PASSWORD)
    for taken in ("alice", "ALICE", " alice "):
        with pytest.raises(Conflict, match="taken"):
            identity.register(taken, PASSWORD)
    assert identity.register("alice2", PASSWORD).username == "alice2"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Type a username"),
        ("   ", "Type a username"),
        ("alice smith", "has a space"),
        ("alice/smith", "'/'"),
        ("a" * 65, "65 characters long"),
        ("ro\x00ot", "only letters, digits"),
    ],
)
def test_bad_usernames_are_refused_with_the_rule(
    identity: IdentityService, name: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        identity.register(name, PASSWORD)


def test_usernames_may_use_letters_of_any_language(identity: IdentityService) -> None:
    assert identity.register("Zoë.O-Brien_2", PASSWORD).username == "Zoë.O-Brien_2"
    with pytest.raises(Conflict):
        identity.register("ZOË.o-brien_2", PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8 characters"),
        (" " * 10, "only spaces"),
        ("x" * 1025, "at most 1024"),
        ("writer42", "same as the username"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule(
    identity: IdentityService, password: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        identity.register("writer42", password)


def test_wrong_password_and_unknown_user_look_the_same(store: Store, clock: Clock) -> None:
    identity = IdentityService(store, load_settings(), clock=clock, hasher=CountingHasher())
    identity.register("alice", PASSWORD)
    CountingHasher.verified = 0
    with pytest.raises(AuthError) as wrong:
        identity.login("alice", "not the password")
    with pytest.raises(AuthError) as unknown:
        identity.login("nobody", "not the password")
    assert str(wrong.value) == str(unknown.value) == BAD_CREDENTIALS
    assert type(wrong.value) is type(unknown.value) is WrongCredentials
    # The unknown user was checked against a dummy hash: the same work, the same time.
    assert CountingHasher.verified == 2


def test_repeated_failures_lock_the_account_for_growing_waits(
    identity: IdentityService, clock: Clock
) -> None:
    identity.register("alice", PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthError, match="Wrong username or password"):
            identity.login("alice", "guess")
        clock.advance(seconds=1)
    # Locked: even the right password is refused, and the message says how long to wait.
    with pytest.raises(TooManyAttempts, match="Wait 29 seconds") as locked:
        identity.login("alice", PASSWORD)
    assert locked.value.retry_after == 29 and locked.value.http_status == 429
    clock.advance(seconds=30)
    with pytest.raises(AuthError, match="Wrong username"):
        identity.login("alice", "guess again")
    with pytest.raises(TooManyAttempts, match="Wait 1 minute,"):
        identity.login("alice", PASSWORD)
    clock.advance(seconds=61)
    identity.login("alice", PASSWORD)
    # The success cleared the count: five more mistakes before the next lock.
    with identity._db() as conn:
        assert conn.execute(sa.select(attempts_t)).all() == []


def test_old_failures_are_forgotten(identity: IdentityService, clock: Clock) -> None:
    identity.register("alice", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthError):
            identity.login("alice", "typo")
    clock.advance(hours=25)
    with pytest.raises(AuthError, match="Wrong username"):
        identity.login("alice", "typo")
    # One fresh failure, not five: no lock.
    identity.login("alice", PASSWORD)


def test_lock_delays() -> None:
    assert [lock_delay(n).total_seconds() for n in (0, 4, 5, 6, 7, 9, 10, 50)] == [
        0,
        0,
        30,
        60,
        120,
        480,
        900,
        900,
    ]
    assert describe_wait(timedelta(seconds=0.2)) == "1 second"
    assert describe_wait(timedelta(seconds=61)) == "2 minutes"


def test_a_hash_made_with_older_parameters_is_replaced_at_login(store: Store, clock: Clock) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    IdentityService(store, load_settings(), clock=clock, hasher=old).register("alice", PASSWORD)
    new = PasswordHasher(time_cost=2, memory_cost=16384, parallelism=1)
    identity = IdentityService(store, load_settings(), clock=clock, hasher=new)
    with identity._db() as conn:
        before = conn.execute(sa.select(users_t.c.password_hash)).scalar_one()
    assert identity.hasher.check_needs_rehash(before)
    _, token = identity.login("alice", PASSWORD)
    with identity._db() as conn:
        after = conn.execute(sa.select(users_t.c.password_hash)).scalar_one()
    assert after != before and not identity.hasher.check_needs_rehash(after)
    assert identity.verify(token).username == "alice"
    identity.login("alice", PASSWORD)


def test_change_password(identity: IdentityService) -> None:
    account = identity.register("alice", PASSWORD)
    _, old_token = identity.login("alice", PASSWORD)
    with pytest.raises(AuthError, match="current password is not right"):
        identity.change_password(account.id, "wrong one", "a new long password")
    with pytest.raises(InvalidInput, match="at least 8"):
        identity.change_password(account.id, PASSWORD, "short")
    with pytest.raises(InvalidInput, match="same as the current"):
        identity.change_password(account.id, PASSWORD, PASSWORD)
    identity.change_password(account.id, PASSWORD, "a new long password")
    with pytest.raises(AuthError, match="Wrong username or password"):
        identity.login("alice", PASSWORD)
    _, token = identity.login("alice", "a new long password")
    assert identity.verify(token) == account
    # Every login from before the change has ended (a thief's copy included).
    with pytest.raises(InvalidToken, match="password of this account was changed"):
        identity.verify(old_token)


# -- tokens ------------------------------------------------------------------------------------


def test_token_claims(identity: IdentityService, store: Store, clock: Clock) -> None:
    account = identity.register("alice", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token,
        _secret(store),
        algorithms=["HS256"],
        audience=f"storyterm:{store.database_id}",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == str(account.id)
    assert claims["iss"] == "storyterm"
    assert claims["iat"] == int(clock.now.timestamp())
    assert claims["exp"] - claims["iat"] == 30 * 86400
    assert len(claims["jti"]) >= 16
    _, second = identity.login("alice", PASSWORD)
    assert _claims(second)["jti"] != claims["jti"]


def test_token_lifetime_follows_the_setting(store: Store, clock: Clock) -> None:
    identity = IdentityService(store, load_settings(token_ttl_days=2), clock=clock)
    identity.register("alice", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    clock.advance(days=1, hours=23)
    identity.verify(token)
    clock.advance(hours=2)
    with pytest.raises(InvalidToken, match=r"Your login expired on .*Please log in again"):
        identity.verify(token)


def _refused(identity: IdentityService, token: object, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        identity.verify(token)  # type: ignore[arg-type]
    message = str(caught.value)
    assert reason in message, message
    assert message.endswith("Please log in again (`storyterm login`).")


def test_bad_tokens_are_refused_with_a_clear_message(
    identity: IdentityService, store: Store, clock: Clock
) -> None:
    account = identity.register("alice", PASSWORD)
    bob = identity.register("bob", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    claims = _claims(token)
    secret = _secret(store)

    # Forged: another key, or alice's token with bob's id pasted in.
    _refused(identity, jwt.encode(claims, "x" * 48, algorithm="HS256"), "signature")
    header, _, signature = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps({**claims, "sub": str(bob.id)}).encode())
    _refused(identity, f"{header}.{body.rstrip(b'=').decode()}.{signature}", "signature")
    # alg=none, with and without a signature part; other algorithms with the right secret.
    _refused(identity, _forge(claims), "'none'")
    _refused(identity, _forge(claims)[:-1], "not a storyterm login token")
    _refused(identity, _forge(claims, alg="None"), "'None'")
    _refused(identity, jwt.encode(claims, secret, algorithm="HS512"), "'HS512'")
    _refused(identity, jwt.encode(claims, secret, algorithm="HS384"), "'HS384'")
    # Missing claims, even when correctly signed.
    for claim in ("exp", "jti", "sub", "aud", "pwd"):
        partial = {k: v for k, v in claims.items() if k != claim}
        _refused(identity, jwt.encode(partial, secret, algorithm="HS256"), "not a valid")
    for sub in ("-1", "0", "1e3", "99999999999999999999", 7):
        bad = jwt.encode({**claims, "sub": sub}, secret, algorithm="HS256")
        _refused(identity, bad, "not a valid")
    # Garbage of every kind.
    for garbage in ("", "   ", "garbage", "a.b.c", "a.b", "é.é.é", "x" * 10_000, None, 42, b"x"):
        _refused(identity, garbage, "not a storyterm login token")
    # The account is gone.
    gone = jwt.encode({**claims, "sub": "999999"}, secret, algorithm="HS256")
    _refused(identity, gone, "no longer exists")
    # Expired (the clock moves past exp, and a token made expired).
    expired = jwt.encode(
        {**claims, "exp": claims["iat"] - 3600, "iat": claims["iat"] - 7200},
        secret,
        algorithm="HS256",
    )
    _refused(identity, expired, "Your login expired")
    assert identity.verify(token) == account
    clock.advance(days=31)
    _refused(identity, token, "Your login expired")


def test_a_revoked_token_is_refused(identity: IdentityService, clock: Clock) -> None:
    identity.register("alice", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    _, other = identity.login("alice", PASSWORD)
    assert identity.logout(token) is True
    assert identity.logout(token) is True  # twice is fine
    _refused(identity, token, "ended by `storyterm logout`")
    assert identity.verify(other).username == "alice"  # only that login ended
    assert identity.logout("garbage") is False


def test_logout_forgets_revocations_of_tokens_that_expired(
    identity: IdentityService, clock: Clock
) -> None:
    identity.register("alice", PASSWORD)
    _, old = identity.login("alice", PASSWORD)
    identity.logout(old)
    clock.advance(days=40)
    _, new = identity.login("alice", PASSWORD)
    identity.logout(new)
    with identity._db() as conn:
        jtis = conn.execute(sa.select(revoked_t.c.jti)).scalars().all()
    assert jtis == [_claims(new)["jti"]]


def test_a_token_from_another_database_is_refused(
    identity: IdentityService, store: Store, tmp_path, clock: Clock
) -> None:
    identity.register("alice", PASSWORD)
    other_store = Store.open(f"sqlite:///{tmp_path / 'other.db'}", None)
    try:
        other = IdentityService(other_store, load_settings(), clock=clock)
        other.register("alice", PASSWORD)  # the same name, even the same id
        _, foreign = other.login("alice", PASSWORD)
        _refused(identity, foreign, "belongs to another storyterm database")
        # With one STORYTERM_JWT_SECRET for both, the database binding still refuses it.
        shared = load_settings(jwt_secret="s" * 40)
        here = IdentityService(store, shared, clock=clock)
        there = IdentityService(other_store, shared, clock=clock)
        _, foreign = there.login("alice", PASSWORD)
        _refused(here, foreign, "belongs to another storyterm database")
        assert there.verify(foreign).username == "alice"
    finally:
        other_store.close()


def test_the_secret_is_shared_by_every_client_of_a_database(
    database_url: str, clock: Clock
) -> None:
    first, second = Store.open(database_url, None), Store.open(database_url, None)
    try:
        one = IdentityService(first, load_settings(), clock=clock)
        two = IdentityService(second, load_settings(), clock=clock)
        one.register("alice", PASSWORD)
        _, token = one.login("alice", PASSWORD)
        assert two.verify(token).username == "alice"
        two.logout(token)
        _refused(one, token, "ended by `storyterm logout`")
    finally:
        first.close()
        second.close()


def test_storyterm_jwt_secret_signs_when_set(store: Store, clock: Clock) -> None:
    settings = load_settings(jwt_secret="k" * 40)
    identity = IdentityService(store, settings, clock=clock)
    identity.register("alice", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    jwt.decode(
        token,
        "k" * 40,
        algorithms=["HS256"],
        audience=f"storyterm:{store.database_id}",
        options={"verify_exp": False, "verify_iat": False},
    )
    # A client using the database's own secret cannot verify it.
    _refused(IdentityService(store, load_settings(), clock=clock), token, "signature")


def test_a_short_jwt_secret_is_refused(store: Store) -> None:
    identity = IdentityService(store, load_settings(jwt_secret="short"))
    identity.register("alice", PASSWORD)
    with pytest.raises(InvalidInput, match="STORYTERM_JWT_SECRET is 5 bytes long"):
        identity.login("alice", PASSWORD)


def test_two_registrations_of_one_name_at_the_same_moment(
    identity: IdentityService, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity.register("alice", PASSWORD)
    # The other registration passed its checks before this one committed: the unique index on
    # username_key is what refuses it, with the same message.
    monkeypatch.setattr(identity, "_user_by_key", lambda conn, key: None)
    with pytest.raises(Conflict, match="The username 'ALICE' is taken"):
        identity.register("ALICE", PASSWORD)


def test_an_absurdly_long_password_is_refused_without_hashing(store: Store) -> None:
    identity = IdentityService(store, load_settings(), hasher=CountingHasher())
    identity.register("alice", PASSWORD)
    CountingHasher.verified = 0
    with pytest.raises(AuthError, match="Wrong username or password"):
        identity.login("alice", "x" * 1_000_000)
    assert CountingHasher.verified == 0


def test_a_wrong_login_names_no_front_end(store: Store, clock: Clock) -> None:
    """The core's message is shown by the CLI, the TUI and the API alike: none of them may be
    told to run a command or press a key of another (each adds its own way to an account)."""
    identity = IdentityService(store, load_settings(), clock=clock, hasher=CountingHasher())
    with pytest.raises(WrongCredentials) as wrong:
        identity.login("nobody", "not the password")
    assert wrong.value.message == "Wrong username or password. Check both and try again."
    assert "storyterm" not in wrong.value.message


def test_logins_arriving_at_once_compute_two_hashes_at_a_time(
    store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each argon2 hash holds 64 MiB while it runs: a crowd of logins at one server process
    queues for it instead of holding that much each, and every one of them still gets in."""
    import threading
    import time

    from storyterm.core.identity.accounts import HASHES_AT_ONCE, BoundedHasher

    hasher = BoundedHasher(time_cost=1, memory_cost=1024, parallelism=1)
    identity = IdentityService(store, load_settings(), clock=clock, hasher=hasher)
    for i in range(8):
        identity.register(f"writer{i}", PASSWORD)
    running, most = 0, 0
    lock = threading.Lock()
    verify = PasswordHasher.verify

    def watched_verify(self: PasswordHasher, hash: str, password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)  # long enough for the others to arrive
        try:
            return verify(self, hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(PasswordHasher, "verify", watched_verify)
    accounts = []
    threads = [
        threading.Thread(target=lambda i=i: accounts.append(identity.login(f"writer{i}", PASSWORD)))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accounts) == 8
    assert most == HASHES_AT_ONCE == 2
