"""Writer accounts: argon2 password hashes, JWT login tokens, and the token kept in the OS keyring.

The rules this module keeps (DESIGN.md, "Identity"):

- A username is 1-64 letters, digits, dots, dashes or underscores, unique regardless of case.
- Passwords are stored only as argon2 hashes; a hash made with older parameters is replaced at
  the next successful login.
- A wrong password and an unknown username get the same message, and take about as long (an
  unknown username is checked against a dummy hash).
- After `LOCK_AFTER` failed logins in a row an account refuses further attempts for a while,
  doubling each time (`lock_delay`); the message says how long to wait.
- A login is an HS256 JWT bound to this database (its `aud` names the database id) and to the
  account's current password hash (changing the password ends every other login). Every use
  verifies it again: signature, algorithm, expiry, revocation, account, database.

jwt (which loads `cryptography`, ~0.1 s) and keyring are imported when first needed, so that
importing the core stays fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from storyterm.core.database import META_JWT_SECRET, describe_error, ensure_meta
from storyterm.core.errors import (
    AuthError,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    InvalidToken,
    NotFound,
    TooManyAttempts,
)
from storyterm.core.models import RevokedToken, User, utcnow

if TYPE_CHECKING:
    from storyterm.core.store import Store
    from storyterm.settings import Settings

users_t: sa.Table = User.__table__  # type: ignore[attr-defined]
revoked_t: sa.Table = RevokedToken.__table__  # type: ignore[attr-defined]

USERNAME_MAX = 64
PASSWORD_MIN = 8
#: argon2 takes any length, but nobody types more than this; a bound keeps a request cheap.
PASSWORD_MAX = 1024
#: HMAC-SHA256 keys shorter than the digest are weak (PyJWT warns below 32 bytes too).
SECRET_MIN_BYTES = 32

ALGORITHM = "HS256"
ISSUER = "storyterm"
#: Clock difference tolerated between machines sharing one database.
LEEWAY = timedelta(seconds=60)
#: A token longer than this is not one of ours; refuse it before parsing.
TOKEN_MAX = 4096

#: Failed logins in a row before the account starts refusing attempts for a while.
LOCK_AFTER = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
#: Failures older than this are forgotten: a writer who mistypes now and then is never locked.
FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)

BAD_CREDENTIALS = (
    "Wrong username or password. Check both and try again "
    "(or `storyterm register` to create an account)."
)
LOG_IN_AGAIN = "Please log in again (`storyterm login`)."

_USERNAME_RE = re.compile(r"[\w.\-]+")


class Account(BaseModel):
    """A writer's account as the front ends see it (never the password hash)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    username: str
    created_at: datetime


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


def default_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's current parameters (RFC 9106's low-memory profile). When a
    new version raises them, stored hashes are upgraded at each writer's next login."""
    return PasswordHasher()


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
        return f"storyterm:{self.store.database_id}"

    @cached_property
    def _secret(self) -> bytes:
        configured = self.settings.jwt_secret
        if configured:
            secret = configured.encode()
            if len(secret) < SECRET_MIN_BYTES:
                raise InvalidInput(
                    f"STORYTERM_JWT_SECRET is {len(secret)} bytes long; a signing secret needs at "
                    f"least {SECRET_MIN_BYTES}. Use a long random one (for example the output of "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or unset it "
                    "to use the secret stored with the database."
                )
            return secret
        try:
            return ensure_meta(self.store.engine)[META_JWT_SECRET].encode()
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(describe_error(str(self.store.engine.url), exc)) from exc

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
        """A new account. Conflict when the name is taken in any letter case."""
        name = clean_username(username)
        check_password(password, name)
        key = username_key(name)
        taken = Conflict(
            f"The username {name!r} is taken (usernames ignore upper and lower case). "
            "Pick another, or `storyterm login` if it is yours."
        )
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
        """Check the password and issue a token. The same AuthError for a wrong password and an
        unknown username; TooManyAttempts while the account is locked."""
        if not isinstance(username, str) or not username.strip():
            raise InvalidInput("Type your username.")
        if not isinstance(password, str) or not password:
            raise InvalidInput("Type your password.")
        if len(password) > PASSWORD_MAX:
            # No password is that long: refuse before spending argon2 time on it.
            raise AuthError(BAD_CREDENTIALS)
        key = username_key(unicodedata.normalize("NFC", username).strip())
        with self._db() as conn:
            row = self._user_by_key(conn, key) if len(key) <= USERNAME_MAX else None
        if row is None:
            self._verify_hash(self._dummy_hash, password)
            raise AuthError(BAD_CREDENTIALS)
        row = self._check_password(row, password)
        account = Account.model_validate(row)
        return account, self._issue(account, row["password_hash"])

    def _check_password(self, row: dict[str, Any], password: str) -> dict[str, Any]:
        """Verify `password` for the user row, counting failures and honouring the lock.
        Returns the row as it is afterwards (a rehash changes its password_hash)."""
        now = self.clock()
        failures = self._recent_failures(row, now)
        if failures >= LOCK_AFTER:
            wait = row["last_failed_at"] + lock_delay(failures) - now
            if wait > timedelta(0):
                raise TooManyAttempts(
                    "Too many wrong passwords for this account in a row. Wait "
                    f"{describe_wait(wait)}, then try again.",
                    retry_after=math.ceil(wait.total_seconds()),
                )
        if not self._verify_hash(row["password_hash"], password):
            self._count_failure(row["id"], now)
            raise AuthError(BAD_CREDENTIALS)
        changes: dict[str, Any] = {}
        if row["failed_logins"] or row["last_failed_at"] is not None:
            changes.update(failed_logins=0, last_failed_at=None)
        if self._needs_rehash(row["password_hash"]):
            changes["password_hash"] = self.hasher.hash(password)
        if changes:
            with self._db(write=True) as conn:
                conn.execute(users_t.update().where(users_t.c.id == row["id"]).values(**changes))
            row = {**row, **changes}
        return row

    def _count_failure(self, user_id: int, now: datetime) -> None:
        # Read and write in one locked transaction: two wrong guesses at the same moment
        # both count.
        with self._db(write=True) as conn:
            query = sa.select(users_t).where(users_t.c.id == user_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            fresh = conn.execute(query).mappings().first()
            if fresh is None:
                return
            failures = self._recent_failures(dict(fresh), now)
            conn.execute(
                users_t.update()
                .where(users_t.c.id == user_id)
                .values(failed_logins=failures + 1, last_failed_at=now)
            )

    @staticmethod
    def _recent_failures(row: dict[str, Any], now: datetime) -> int:
        last = row["last_failed_at"]
        if last is None or now - last > FAILURES_FORGOTTEN_AFTER:
            return 0
        return int(row["failed_logins"] or 0)

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
        check_password(new, row["username"])
        if new == old:
            raise InvalidInput("The new password is the same as the current one.")
        try:
            row = self._check_password(row, old)
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
                .values(password_hash=self.hasher.hash(new), failed_logins=0, last_failed_at=None)
            )
        return Account.model_validate(row)

    # -- tokens ---------------------------------------------------------------------------

    def _password_binding(self, password_hash: str) -> str:
        """A short keyed fingerprint of the password hash: a new password, new fingerprint."""
        digest = hmac.new(self._secret, password_hash.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def _issue(self, account: Account, password_hash: str) -> str:
        import jwt

        now = self.clock()
        claims = {
            "iss": ISSUER,
            "aud": self.audience,
            "sub": str(account.id),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(days=self.settings.token_ttl_days)).timestamp()),
            "jti": secrets.token_urlsafe(16),
            "pwd": self._password_binding(password_hash),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: Any) -> dict[str, Any]:
        """The claims of a token this database issued, checked for signature, algorithm,
        issuer, audience and expiry; InvalidToken otherwise. Never raises anything else."""
        import jwt

        if not isinstance(token, str) or not token.strip() or len(token) > TOKEN_MAX:
            raise InvalidToken("This is not a storyterm login token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("This is not a storyterm login token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(
                f"The login token is signed with {str(header.get('alg'))[:20]!r}, which "
                "storyterm does not accept"
            )
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                # Expiry is checked below against self.clock (tests move time; PyJWT cannot).
                options={
                    "require": ["iss", "aud", "sub", "iat", "exp", "jti", "pwd"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            if self._unverified_audience(token) not in (None, self.audience):
                raise InvalidToken(
                    "This login belongs to another storyterm database, not the one in use"
                ) from exc
            raise InvalidToken(
                "The login token does not carry this database's signature (it was altered, or "
                "the signing secret changed)"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(
                "This login belongs to another storyterm database, not the one in use"
            ) from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken("This is not a valid storyterm login token") from exc
        exp, iat, sub, jti = (claims.get(k) for k in ("exp", "iat", "sub", "jti"))
        if (
            not isinstance(exp, int)
            or not isinstance(iat, int)
            or not isinstance(sub, str)
            or not sub.isascii()
            or not sub.isdigit()
            or not 0 < int(sub) < 2**31  # users.id is a 32-bit integer on PostgreSQL
            or not isinstance(jti, str)
            or not 0 < len(jti) <= 64
        ):
            raise InvalidToken("This is not a valid storyterm login token")
        now = self.clock().timestamp()
        if exp + LEEWAY.total_seconds() <= now:
            when = datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M")
            raise InvalidToken(f"Your login expired on {when}")
        if iat - LEEWAY.total_seconds() > now:
            raise InvalidToken("The login token was issued in the future (check the clock)")
        return claims

    @staticmethod
    def _unverified_audience(token: str) -> str | None:
        import jwt

        try:
            aud = jwt.decode(token, options={"verify_signature": False}).get("aud")
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        return aud if isinstance(aud, str) else None

    def verify(self, token: str) -> Account:
        """The account a token stands for, checked completely; InvalidToken (an AuthError whose
        message ends in "Please log in again") for anything else."""
        claims = self._decode(token)
        with self._db() as conn:
            revoked = conn.execute(
                sa.select(revoked_t.c.jti).where(revoked_t.c.jti == claims["jti"])
            ).first()
            row = self._user_by_id(conn, int(claims["sub"]))
        if revoked is not None:
            raise InvalidToken("This login was ended by `storyterm logout`")
        if row is None:
            raise InvalidToken("The account this login belongs to no longer exists")
        if not hmac.compare_digest(
            str(claims["pwd"]), self._password_binding(row["password_hash"])
        ):
            raise InvalidToken("The password of this account was changed since this login")
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
        # Imported here, not at the top: the PostgreSQL dialect costs ~30 ms to import, and
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


# -- the keyring -------------------------------------------------------------------------------

NO_KEYRING = (
    "This machine has no system keyring (no Secret Service, KWallet or macOS Keychain was found)"
)


class TokenStore:
    """The login token of one database, kept in the OS keyring.

    The keyring entry is service "storyterm:<database id>", user "token", so that two databases
    keep two logins. Without a working keyring the token is kept in memory for this run only
    (`available` is False and `unavailable_reason` says why): storyterm never writes a token to
    a plain file on its own.
    """

    USERNAME = "token"

    def __init__(self, database_id: str) -> None:
        self.database_id = database_id
        self.service = f"storyterm:{database_id}"
        self._memory: str | None = None
        self._reason: str | None = None
        self._probed = False

    @property
    def available(self) -> bool:
        self._probe()
        return self._reason is None

    @property
    def unavailable_reason(self) -> str | None:
        self._probe()
        return self._reason

    def _probe(self) -> None:
        if self._probed:
            return
        self._probed = True
        try:
            import keyring
            from keyring.backends import fail, null

            backend = keyring.get_keyring()
        except Exception as exc:  # a broken keyring install must not stop storyterm
            self._reason = f"The system keyring could not be loaded ({_describe(exc)})"
            return
        if isinstance(backend, fail.Keyring):
            self._reason = NO_KEYRING
        elif isinstance(backend, null.Keyring):
            self._reason = "The system keyring is turned off (keyring's null backend is chosen)"

    @property
    def backend_name(self) -> str | None:
        """Which keyring holds the logins ("SecretService Keyring", ...), None without one."""
        if not self.available:
            return None
        import keyring

        return str(keyring.get_keyring().name)

    def _failed(self, action: str, exc: Exception) -> None:
        from keyring.errors import NoKeyringError

        if isinstance(exc, NoKeyringError):
            self._reason = NO_KEYRING
        else:
            self._reason = f"The system keyring could not {action} the login ({_describe(exc)})"

    def load(self) -> str | None:
        """The saved token, or None when nobody is logged in to this database here."""
        if self._memory is not None or not self.available:
            return self._memory
        import keyring

        try:
            return keyring.get_password(self.service, self.USERNAME) or None
        except Exception as exc:  # keyring backends raise more than KeyringError (D-Bus, ...)
            self._failed("read", exc)
            return self._memory

    def save(self, token: str) -> bool:
        """Keep the token. True when it is in the keyring; False when it is kept in memory for
        this run only (see `unavailable_reason`)."""
        self._memory = token
        if not self.available:
            return False
        import keyring

        try:
            keyring.set_password(self.service, self.USERNAME, token)
        except Exception as exc:
            self._failed("save", exc)
            return False
        return True

    def clear(self) -> None:
        """Forget the token here (the keyring entry and the in-memory copy)."""
        self._memory = None
        if not self.available:
            return
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(self.service, self.USERNAME)
        except PasswordDeleteError:
            pass  # nothing was saved
        except Exception as exc:
            self._failed("remove", exc)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
