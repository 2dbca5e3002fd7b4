"""Login tokens: HS256 JSON Web Tokens, signed and checked with PyJWT.

A token names its writer (`sub`), the database it belongs to (`aud`), when it ends (`exp`), an
id that logout can revoke (`jti`) and a keyed fingerprint of the password hash (`pwd`), so a new
password ends every older login (DESIGN.md, "Identity").

PyJWT signs every token and checks every signature, algorithm (HS256 only), issuer, audience
and required claim. The times (`exp`, `iat`, `nbf`) are checked here against storyterm's clock,
which tests move by hand; PyJWT reads the system clock only.

PyJWT and the cryptography package it loads are a costly import (bench/FINDINGS.md), so they
are imported when a token is first signed or checked, never by the TUI's first frame: the first
frame reads the login with `peek_claims` (see its note) and the signature is checked by PyJWT
right after it.

Every refusal is an InvalidToken whose message says what is wrong with the token; nothing else
is raised for any input (hostile headers, huge numbers, wrong types, garbage).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from storyterm.errors import InvalidInput, InvalidToken

ALGORITHM = "HS256"
ISSUER = "storyterm"
#: Clock differences tolerated when checking `exp` and `iat`.
LEEWAY = timedelta(seconds=60)
#: Longer than any token storyterm issues: anything bigger is refused unread.
TOKEN_MAX = 4096
SECRET_MIN_BYTES = 32
#: Claims every storyterm token carries.
REQUIRED = ("iss", "aud", "sub", "iat", "exp", "jti", "pwd")
#: The header segment of every token storyterm issues ({"alg":"HS256","typ":"JWT"}, as PyJWT
#: writes it): `peek_claims` reads no other.
OUR_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

NOT_A_TOKEN = "This is not a storyterm login token"
NOT_VALID = "This is not a valid storyterm login token"
OTHER_DATABASE = "This login belongs to another storyterm database, not the one in use"
NOT_SIGNED_HERE = (
    "The login token does not carry this database's signature (it was altered, or the signing "
    "secret changed)"
)


def configured_secret(value: str | None) -> bytes | None:
    """STORYTERM_JWT_SECRET as key bytes (None when unset), refused when too short to be safe."""
    if not value:
        return None
    secret = value.encode()
    if len(secret) < SECRET_MIN_BYTES:
        raise InvalidInput(
            f"STORYTERM_JWT_SECRET is {len(secret)} bytes long; a signing secret needs at "
            f"least {SECRET_MIN_BYTES}. Use a long random one (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or unset it "
            "to use the secret stored with the database."
        )
    return secret


def audience_for(database_id: str) -> str:
    """The `aud` claim: a token from one database means nothing to another."""
    return f"storyterm:{database_id}"


def _token_text(token: Any) -> str:
    """The token stripped, or NOT_A_TOKEN for what cannot be one (wrong type, empty, too long,
    not three ASCII segments)."""
    if not isinstance(token, str) or len(token) > TOKEN_MAX:
        raise InvalidToken(NOT_A_TOKEN)
    token = token.strip()
    if not token or not token.isascii() or token.count(".") != 2:
        raise InvalidToken(NOT_A_TOKEN)
    return token


def unsigned_part(token: str) -> str:
    """A token without its signature ("header.claims"): what anyone can read of it, and no
    login anywhere (the signature is what `decode` checks)."""
    return token.strip().rsplit(".", 1)[0]


def _expired_on(exp: int) -> str:
    try:
        return f"Your login expired on {datetime.fromtimestamp(exp).strftime('%Y-%m-%d %H:%M')}"
    except (OverflowError, OSError, ValueError):  # a date no calendar holds
        return "Your login has expired"


class TokenSigner:
    """Issues and checks the tokens of one database (its secret and its audience)."""

    def __init__(self, secret: bytes, audience: str) -> None:
        self._secret = secret
        self.audience = audience

    def password_binding(self, password_hash: str) -> str:
        """A short keyed fingerprint of the password hash: a new password, new fingerprint."""
        digest = hmac.new(self._secret, password_hash.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def issue(self, user_id: int, password_hash: str, now: datetime, ttl: timedelta) -> str:
        import jwt  # after the first frame (see the module's note)

        claims = {
            "iss": ISSUER,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_urlsafe(16),
            "pwd": self.password_binding(password_hash),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: Any, now: datetime) -> dict[str, Any]:
        """The claims of a token this database issued, checked by PyJWT for signature,
        algorithm, issuer, audience and required claims, and here for their types and for
        expiry (against `now`); InvalidToken otherwise."""
        token = _token_text(token)
        import jwt  # after the first frame (see the module's note)

        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError, OverflowError) as exc:
            raise InvalidToken(NOT_A_TOKEN) from exc
        alg = header.get("alg")
        if alg != ALGORITHM:
            shown = str(alg)[:20] if isinstance(alg, str | int | float | None) else "something"
            raise InvalidToken(
                f"The login token is signed with {shown!r}, which storyterm does not accept"
            )
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=ISSUER,
                # The times are checked by check_claims against storyterm's clock.
                options={
                    "require": list(REQUIRED),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken(self._signature_problem(token)) from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken(OTHER_DATABASE) from exc
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError, OverflowError) as exc:
            raise InvalidToken(NOT_VALID) from exc
        return self.check_claims(claims, now)

    def _signature_problem(self, token: str) -> str:
        """Why a signature does not match: another database's token says so in its `aud`."""
        import jwt

        try:
            aud = jwt.decode(token, options={"verify_signature": False}).get("aud")
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError, OverflowError):
            return NOT_SIGNED_HERE
        if aud is not None and aud != self.audience:
            return OTHER_DATABASE
        return NOT_SIGNED_HERE

    def check_claims(self, claims: Any, now: datetime) -> dict[str, Any]:
        """storyterm's rules for the claims themselves: every one present with its type, this
        database's audience, a user id that can exist, and not expired or issued in the future
        at `now`."""
        if not isinstance(claims, dict) or any(claims.get(name) is None for name in REQUIRED):
            raise InvalidToken(NOT_VALID)
        if claims["iss"] != ISSUER:
            raise InvalidToken(NOT_VALID)
        if claims["aud"] != self.audience:
            raise InvalidToken(OTHER_DATABASE if isinstance(claims["aud"], str) else NOT_VALID)
        exp, iat, sub, jti, pwd = (claims[k] for k in ("exp", "iat", "sub", "jti", "pwd"))
        if (
            type(exp) is not int
            or type(iat) is not int
            or not isinstance(sub, str)
            or not sub.isascii()
            or not sub.isdigit()
            or len(sub) > 10
            or not 0 < int(sub) < 2**31  # users.id is a 32-bit integer on PostgreSQL
            or not isinstance(jti, str)
            or not 0 < len(jti) <= 64
            or not (jti.isascii() and jti.isprintable())  # it is looked up in the database
            or not isinstance(pwd, str)
            or not pwd.isascii()  # compared with hmac.compare_digest
        ):
            raise InvalidToken(NOT_VALID)
        moment = now.timestamp()
        if exp + LEEWAY.total_seconds() <= moment:
            raise InvalidToken(_expired_on(exp))
        if iat - LEEWAY.total_seconds() > moment:
            raise InvalidToken("The login token was issued in the future (check the clock)")
        nbf = claims.get("nbf")  # storyterm never sets it; honoured where present
        if nbf is not None and (type(nbf) is not int or nbf - LEEWAY.total_seconds() > moment):
            raise InvalidToken("The login token is not valid yet (check the clock)")
        return claims

    def peek_claims(self, token: Any, now: datetime) -> dict[str, Any]:
        """The claims of a token that looks like one this database issued, read WITHOUT
        checking its signature: for the TUI's first frame only, which must not wait for PyJWT's
        import.

        The caller must check the claims against the database (`check_holder`): the `pwd`
        fingerprint is keyed with this database's secret, so only a token issued here for the
        account's current password gets through, and `decode` (PyJWT) checks the whole token
        right after the first frame; a token that fails then ends the session on screen."""
        token = _token_text(token)
        header, body, signature = token.split(".")
        if not signature:
            raise InvalidToken(NOT_A_TOKEN)
        return self.peek_unsigned(f"{header}.{body}", now)

    def peek_unsigned(self, unsigned: str, now: datetime) -> dict[str, Any]:
        """`peek_claims` of a token's first two segments (`unsigned`, see `unsigned_part`): the
        TUI's first frame reads the login hint (core/identity/keyring_store.py) with it."""
        if not isinstance(unsigned, str) or len(unsigned) > TOKEN_MAX or unsigned.count(".") != 1:
            raise InvalidToken(NOT_A_TOKEN)
        header, body = unsigned.split(".")
        if header != OUR_HEADER:
            raise InvalidToken(NOT_A_TOKEN)
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError, RecursionError) as exc:  # binascii.Error is a ValueError
            raise InvalidToken(NOT_VALID) from exc
        return self.check_claims(claims, now)

    def check_holder(
        self, claims: dict[str, Any], *, revoked: bool, password_hash: str | None
    ) -> None:
        """The database's side of a decoded token: not logged out, the account still there,
        its password unchanged since the login."""
        if revoked:
            raise InvalidToken("This login was ended by `storyterm logout`")
        if password_hash is None:
            raise InvalidToken("The account this login belongs to no longer exists")
        if not hmac.compare_digest(str(claims["pwd"]), self.password_binding(password_hash)):
            raise InvalidToken("The password of this account was changed since this login")
