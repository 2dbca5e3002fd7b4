"""Writer accounts: argon2 password hashes, JWT login tokens, and the token kept in the OS keyring.

The rules this module keeps (DESIGN.md, "Identity"):

- A username is 1-64 letters, digits, dots, dashes or underscores, unique regardless of case.
- Passwords are stored only as argon2 hashes; a hash made with older parameters is replaced at
  the next successful login.
- A wrong password and an unknown username get the same message, and take about as long (an
  unknown username is checked against a dummy hash).
- After `LOCK_AFTER` failed logins in a row a username refuses further attempts for a while,
  doubling each time (`lock_delay`); the message says how long to wait. Attempts are counted
  per username whether or not an account has it (an unknown name locks like a known one), and
  each attempt is counted in one locked transaction *before* its password is checked, so
  guesses sent at once cannot all be checked before the lock holds.
- A login is an HS256 JWT bound to this database (its `aud` names the database id) and to the
  account's current password hash (changing the password ends every other login). Every use
  verifies it again: signature, algorithm, expiry, revocation, account, database.

Tokens are signed and checked by core/identity/tokens.py (PyJWT, HS256 only); the keyring is
kept by core/identity/keyring_store.py and imported when first needed.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from storyterm.core.basics import PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX
from storyterm.core.identity.keyring_store import NO_KEYRING, TokenStore
from storyterm.core.identity.tokens import (
    LEEWAY,
    TokenSigner,
    audience_for,
    configured_secret,
)
from storyterm.core.storage.database import META_JWT_SECRET, describe_error, ensure_meta
from storyterm.core.storage.tables import LoginAttempts, RevokedToken, User, table_of, utcnow
from storyterm.core.text import refuse_unstorable
from storyterm.core.views import Account
from storyterm.errors import (
    AuthError,
    DatabaseUnavailable,
    InvalidInput,
    InvalidToken,
    NameTaken,
    NotFound,
    TooManyAttempts,
    WrongCredentials,
)

__all__ = ["NO_KEYRING", "Account", "TokenStore"]

if TYPE_CHECKING:
    from storyterm.core.storage.store import Store
    from storyterm.settings import Settings

users_t = table_of(User)
revoked_t = table_of(RevokedToken)
attempts_t = table_of(LoginAttempts)

#: Failed logins in a row before the account starts refusing attempts for a while.
LOCK_AFTER = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
#: Failures older than this are forgotten: a writer who mistypes now and then is never locked.
FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)

BAD_CREDENTIALS = "Wrong username or password. Check both and try again."
LOG_IN_AGAIN = "Please log in again (`storyterm login`)."

_USERNAME_RE = re.compile(r"[\w.\-]+")


# -- rules -------------------------------------------------------------------------------------


def clean_username(username: Any) -> str:
    """The username as stored (NFC, trimmed), or InvalidInput saying what is wrong with it."""
    if not isinstance(username, str):
        raise InvalidInput("The username must be text.")
    name = unicodedata.normalize("NFC", username).strip()
    if not name:
        raise InvalidInput("Type a username: 1 to 64 letters, digits, dots, dashes or underscores.")
    if len(name) > USERNAME_MAX or len(username_key(name)) > USERNAME_MAX:
        raise InvalidInput(
            f"That username is {len(name)} characters long; keep it to {USERNAME_MAX} or fewer."
        )
    if not _USERNAME_RE.fullmatch(name):
        bad = next(ch for ch in name if not _USERNAME_RE.fullmatch(ch))
        shown = "a space" if bad.isspace() else repr(bad)
        raise InvalidInput(
            f"A username may contain only letters, digits, dots, dashes and underscores; "
            f"{name!r} has {shown}."
        )
    return name


def username_key(username: str) -> str:
    """What makes two usernames the same: case and Unicode compatibility forms are ignored."""
    return unicodedata.normalize("NFKC", username).casefold()


def check_password(password: Any, username: str | None = None) -> str:
    """The password if it follows the rules, else InvalidInput saying which rule it breaks."""
    if not isinstance(password, str):
        raise InvalidInput("The password must be text.")
    refuse_unstorable(password, "The password")
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            f"A password needs at least {PASSWORD_MIN} characters "
            f"(that one has {len(password)}). A few words in a row make a good one."
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"A password may be at most {PASSWORD_MAX} characters long.")
    if not password.strip():
        raise InvalidInput("A password cannot be only spaces.")
    if username is not None and password.casefold() == username.casefold():
        raise InvalidInput("The password must not be the same as the username.")
    return password


def lock_delay(failures: int) -> timedelta:
    """How long an account refuses logins after `failures` failed attempts in a row:
    nothing below LOCK_AFTER, then 30 s, 1 min, 2 min, ... up to 15 min."""
    if failures < LOCK_AFTER:
        return timedelta(0)
    return min(FIRST_LOCK * 2 ** min(failures - LOCK_AFTER, 16), LONGEST_LOCK)


def describe_wait(wait: timedelta) -> str:
    """'45 seconds', '1 minute', '3 minutes': rounded up, so waiting that long is enough."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


#: argon2 takes 64 MiB for each hash it computes (the low-memory profile), for the whole
#: computation: logins arriving at once at one server process would each hold that much (50 at
#: once: 3.2 GiB; the team benchmark saw a worker reach 970 MiB while 12 logged in). They queue
#: here instead. Each hash already keeps 4 threads busy, so more at once would not finish sooner.
HASHES_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


class BoundedHasher(PasswordHasher):
    """argon2's hasher, computing at most HASHES_AT_ONCE hashes at a time in this process."""

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with _hashing:
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with _hashing:
            return super().verify(hash, password)


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's current parameters (RFC 9106's low-memory profile). When a
    new version raises them, stored hashes are upgraded at each writer's next login."""
    return BoundedHasher()


# -- the service -------------------------------------------------------------------------------


class IdentityService:
    """Register, log in, verify a token, log out, change a password.

    `clock` and `hasher` are injectable so that tests can move time (lockouts, expiry) without
    sleeping and can change the argon2 parameters (rehashing).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.hasher = hasher or default_hasher()

    @property
    def audience(self) -> str:
        """The `aud` claim: a token from one database means nothing to another."""
        return audience_for(self.store.database_id)

    @cached_property
    def signer(self) -> TokenSigner:
        """This database's tokens: STORYTERM_JWT_SECRET when set, else the secret stored with
        the database (generated when it was created)."""
        secret = configured_secret(self.settings.jwt_secret)
        if secret is None:
            try:
                secret = ensure_meta(self.store.engine)[META_JWT_SECRET].encode()
            except (OperationalError, DBAPIError) as exc:
                raise DatabaseUnavailable(describe_error(str(self.store.engine.url), exc)) from exc
        return TokenSigner(secret, self.audience)

    @cached_property
    def _dummy_hash(self) -> str:
        # Made with the same parameters as real hashes, so verifying against it costs the same.
        return self.hasher.hash(secrets.token_urlsafe(16))

    # -- database -------------------------------------------------------------------------

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sa.Connection]:
        engine = self.store.engine
        try:
            with engine.connect() as conn:
                if write and engine.dialect.name == "sqlite":
                    # Take the write lock up front, as the store does (no lost updates).
                    conn.info["sqlite_begin"] = "IMMEDIATE"
                with conn.begin():
                    yield conn
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(describe_error(str(engine.url), exc)) from exc

    def _user_by_key(self, conn: sa.Connection, key: str) -> dict[str, Any] | None:
        row = conn.execute(sa.select(users_t).where(users_t.c.username_key == key)).mappings()
        found = row.first()
        return dict(found) if found is not None else None

    def _user_by_id(self, conn: sa.Connection, user_id: int) -> dict[str, Any] | None:
        row = conn.execute(sa.select(users_t).where(users_t.c.id == user_id)).mappings().first()
        return dict(row) if row is not None else None

    # -- accounts -------------------------------------------------------------------------

    def register(self, username: str, password: str) -> Account:
        """A new account. NameTaken (a Conflict) when the name is taken in any letter case."""
        name = clean_username(username)
        check_password(password, name)
        key = username_key(name)
        taken = NameTaken(name)
        with self._db() as conn:
            if self._user_by_key(conn, key) is not None:
                raise taken
        # Hash outside the write transaction: it takes a moment and must not hold the lock.
        password_hash = self.hasher.hash(password)
        try:
            with self._db(write=True) as conn:
                if self._user_by_key(conn, key) is not None:
                    raise taken
                now = self.clock()
                user_id = conn.execute(
                    users_t.insert()
                    .values(
                        username=name,
                        username_key=key,
                        password_hash=password_hash,
                        failed_logins=0,
                        created_at=now,
                    )
                    .returning(users_t.c.id)
                ).scalar_one()
        except IntegrityError as exc:  # registered by someone else at the same moment
            raise taken from exc
        return Account(id=user_id, username=name, created_at=now)

    def get_account(self, account_id: int) -> Account:
        with self._db() as conn:
            row = self._user_by_id(conn, account_id)
        if row is None:
            raise NotFound("That account no longer exists.")
        return Account.model_validate(row)

    def login(self, username: str, password: str) -> tuple[Account, str]:
        """Check the password and issue a token. The same AuthError, after the same argon2
        work, for a wrong password and an unknown username; TooManyAttempts while the username
        is locked, whether or not it has an account."""
        if not isinstance(username, str) or not username.strip():
            raise InvalidInput("Type your username.")
        if not isinstance(password, str) or not password:
            raise InvalidInput("Type your password.")
        refuse_unstorable(username, "The username")
        refuse_unstorable(password, "The password")
        if len(password) > PASSWORD_MAX:
            # No password is that long: refuse before spending argon2 time on it.
            raise WrongCredentials(BAD_CREDENTIALS)
        key = username_key(unicodedata.normalize("NFC", username).strip())
        with self._db() as conn:
            row = self._user_by_key(conn, key) if len(key) <= USERNAME_MAX else None
        row = self._check_password(key, row, password)
        account = Account.model_validate(row)
        return account, self._issue(account, row["password_hash"])

    def _check_password(
        self, key: str, row: dict[str, Any] | None, password: str
    ) -> dict[str, Any]:
        """Verify `password` for the user row (None: no such account, checked against the dummy
        hash and always refused), counting the attempt against the username `key` first.
        Returns the row as it is afterwards (a rehash changes its password_hash)."""
        attempts = self._attempts_key(key)
        self._take_attempt(attempts)
        if row is None or not self._verify_hash(row["password_hash"], password):
            if row is None:
                self._verify_hash(self._dummy_hash, password)
            raise WrongCredentials(BAD_CREDENTIALS)
        with self._db(write=True) as conn:
            conn.execute(attempts_t.delete().where(attempts_t.c.key == attempts))
            if self._needs_rehash(row["password_hash"]):
                row = {**row, "password_hash": self.hasher.hash(password)}
                conn.execute(
                    users_t.update()
                    .where(users_t.c.id == row["id"])
                    .values(password_hash=row["password_hash"])
                )
        return row

    @staticmethod
    def _attempts_key(key: str) -> str:
        """login_attempts' key for a username key: a digest, so that whatever was typed in the
        username field (a password, by mistake) is not kept."""
        return hashlib.sha256(key.encode()).hexdigest()

    def _take_attempt(self, attempts: str) -> None:
        """Count one login attempt for the username as a failure before its password is
        checked (a success clears the count), or TooManyAttempts while the username is locked.

        One transaction holding the row's lock (SQLite: the database's write lock, taken at
        BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), so attempts made at the same
        moment are counted one after another: at most LOCK_AFTER passwords are checked before
        the lock holds, however many are sent at once."""
        # Imported here, not at the top: the PostgreSQL dialect is a costly import, and
        # verifying a token at start-up never needs it.
        from sqlalchemy.dialects import postgresql, sqlite

        now = self.clock()
        with self._db(write=True) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(attempts_t)
                .values(key=attempts, failures=0, last_failed_at=None)
                .on_conflict_do_nothing(index_elements=[attempts_t.c.key])
            )
            query = sa.select(attempts_t).where(attempts_t.c.key == attempts)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            found = conn.execute(query).mappings().one()
            failures = self._recent_failures(found["failures"], found["last_failed_at"], now)
            if failures >= LOCK_AFTER:
                wait = found["last_failed_at"] + lock_delay(failures) - now
                if wait > timedelta(0):
                    raise TooManyAttempts(
                        "Too many wrong passwords for this username in a row. Wait "
                        f"{describe_wait(wait)}, then try again.",
                        retry_after=math.ceil(wait.total_seconds()),
                    )
            conn.execute(
                attempts_t.update()
                .where(attempts_t.c.key == attempts)
                .values(failures=failures + 1, last_failed_at=now)
            )

    @staticmethod
    def _recent_failures(failures: int | None, last: datetime | None, now: datetime) -> int:
        if last is None or now - last > FAILURES_FORGOTTEN_AFTER:
            return 0
        return int(failures or 0)

    def _verify_hash(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def change_password(self, account_id: int, old: str, new: str) -> Account:
        """Replace the password after checking the current one. Every token issued before
        stops working (they are bound to the old hash): log in again for a new one."""
        with self._db() as conn:
            row = self._user_by_id(conn, account_id)
        if row is None:
            raise AuthError("This account no longer exists. " + LOG_IN_AGAIN)
        if not isinstance(old, str) or not old:
            raise InvalidInput("Type your current password.")
        refuse_unstorable(old, "The current password")
        check_password(new, row["username"])
        if new == old:
            raise InvalidInput("The new password is the same as the current one.")
        try:
            row = self._check_password(row["username_key"], row, old)
        except AuthError as exc:
            if isinstance(exc, TooManyAttempts):
                raise
            raise AuthError(
                "The current password is not right. Your password was not changed."
            ) from exc
        with self._db(write=True) as conn:
            conn.execute(
                users_t.update()
                .where(users_t.c.id == account_id)
                .values(password_hash=self.hasher.hash(new))
            )
        return Account.model_validate(row)

    # -- tokens ---------------------------------------------------------------------------

    def _issue(self, account: Account, password_hash: str) -> str:
        ttl = timedelta(days=self.settings.token_ttl_days)
        return self.signer.issue(account.id, password_hash, self.clock(), ttl)

    def _decode(self, token: Any) -> dict[str, Any]:
        return self.signer.decode(token, self.clock())

    def verify(self, token: str) -> Account:
        """The account a token stands for, checked completely; InvalidToken (an AuthError whose
        message ends in "Please log in again") for anything else."""
        claims = self._decode(token)
        # Every request of the API verifies its token: read without a transaction around it
        # on PostgreSQL (Transactions.read), two round trips instead of four.
        with self.store.tx.read() as conn:
            revoked = conn.execute(
                sa.select(revoked_t.c.jti).where(revoked_t.c.jti == claims["jti"])
            ).first()
            row = self._user_by_id(conn, int(claims["sub"]))
        self.signer.check_holder(
            claims,
            revoked=revoked is not None,
            password_hash=row["password_hash"] if row is not None else None,
        )
        return Account.model_validate(row)

    def logout(self, token: str) -> bool:
        """Revoke the token so that a copy of it stops working. False when there was nothing to
        revoke (a token that is invalid, expired or from elsewhere is no login anyway)."""
        try:
            claims = self._decode(token)
        except InvalidToken:
            return False
        now = self.clock()
        expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC) + LEEWAY
        # Imported here, not at the top: the PostgreSQL dialect is a costly import, and
        # verifying a token at start-up never needs it.
        from sqlalchemy.dialects import postgresql, sqlite

        with self._db(write=True) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(revoked_t)
                .values(jti=claims["jti"], expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=[revoked_t.c.jti])
            )
            # Revocations outlive their tokens only briefly: forget the ones that ended.
            conn.execute(revoked_t.delete().where(revoked_t.c.expires_at < now))
        return True
