"""Login tokens: HS256 JSON Web Tokens, signed and checked with the standard library.

A token names its writer (`sub`), the database it belongs to (`aud`), when it ends (`exp`), an
id that logout can revoke (`jti`) and a keyed fingerprint of the password hash (`pwd`), so a new
password ends every older login. HS256 is an HMAC-SHA256 over two base64url JSON segments: the
standard library does it in microseconds, where PyJWT's import (and the cryptography package it
loads) cost ~60 ms of every start-up. The tests check these tokens against PyJWT both ways.

Every refusal is an InvalidToken whose message says what is wrong with the token; nothing else
is raised for any input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from storyterm.core.errors import InvalidInput, InvalidToken

ALGORITHM = "HS256"
ISSUER = "storyterm"
#: Clock differences tolerated when checking `exp` and `iat`.
LEEWAY = timedelta(seconds=60)
#: Longer than any token storyterm issues: anything bigger is refused unread.
TOKEN_MAX = 4096
SECRET_MIN_BYTES = 32
#: Claims every storyterm token carries.
REQUIRED = ("iss", "aud", "sub", "iat", "exp", "jti", "pwd")

NOT_A_TOKEN = "This is not a storyterm login token"
NOT_VALID = "This is not a valid storyterm login token"
OTHER_DATABASE = "This login belongs to another storyterm database, not the one in use"


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


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_segment(segment: str) -> dict[str, Any]:
    value = json.loads(_b64decode(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class TokenSigner:
    """Issues and checks the tokens of one database (its secret and its audience)."""

    def __init__(self, secret: bytes, audience: str) -> None:
        self._secret = secret
        self.audience = audience

    def password_binding(self, password_hash: str) -> str:
        """A short keyed fingerprint of the password hash: a new password, new fingerprint."""
        digest = hmac.new(self._secret, password_hash.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def _signature(self, signing_input: bytes) -> bytes:
        return hmac.new(self._secret, signing_input, hashlib.sha256).digest()

    def issue(self, user_id: int, password_hash: str, now: datetime, ttl: timedelta) -> str:
        claims = {
            "iss": ISSUER,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_urlsafe(16),
            "pwd": self.password_binding(password_hash),
        }
        header = {"alg": ALGORITHM, "typ": "JWT"}
        signing_input = ".".join(
            _b64encode(json.dumps(part, separators=(",", ":")).encode())
            for part in (header, claims)
        )
        signature = self._signature(signing_input.encode())
        return f"{signing_input}.{_b64encode(signature)}"

    def decode(self, token: Any, now: datetime) -> dict[str, Any]:
        """The claims of a token this database issued, checked for signature, algorithm,
        issuer, audience and expiry (against `now`); InvalidToken otherwise."""
        if not isinstance(token, str) or not token.strip() or len(token) > TOKEN_MAX:
            raise InvalidToken(NOT_A_TOKEN)
        token = token.strip()
        segments = token.split(".")
        if len(segments) != 3:
            raise InvalidToken(NOT_A_TOKEN)
        header_b64, claims_b64, signature_b64 = segments
        try:
            header = _json_segment(header_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidToken(NOT_A_TOKEN) from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(
                f"The login token is signed with {str(header.get('alg'))[:20]!r}, which "
                "storyterm does not accept"
            )
        try:
            claims = _json_segment(claims_b64)
            signature = _b64decode(signature_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidToken(NOT_VALID) from exc
        expected = self._signature(f"{header_b64}.{claims_b64}".encode())
        if not hmac.compare_digest(signature, expected):
            if claims.get("aud") not in (None, self.audience):
                raise InvalidToken(OTHER_DATABASE)
            raise InvalidToken(
                "The login token does not carry this database's signature (it was altered, or "
                "the signing secret changed)"
            )
        if any(claims.get(name) is None for name in REQUIRED) or claims["iss"] != ISSUER:
            raise InvalidToken(NOT_VALID)
        if claims["aud"] != self.audience:
            raise InvalidToken(OTHER_DATABASE)
        exp, iat, sub, jti = (claims.get(k) for k in ("exp", "iat", "sub", "jti"))
        if (
            type(exp) is not int
            or type(iat) is not int
            or not isinstance(sub, str)
            or not sub.isascii()
            or not sub.isdigit()
            or not 0 < int(sub) < 2**31  # users.id is a 32-bit integer on PostgreSQL
            or not isinstance(jti, str)
            or not 0 < len(jti) <= 64
        ):
            raise InvalidToken(NOT_VALID)
        moment = now.timestamp()
        if exp + LEEWAY.total_seconds() <= moment:
            when = datetime.fromtimestamp(exp).strftime("%Y-%m-%d %H:%M")
            raise InvalidToken(f"Your login expired on {when}")
        if iat - LEEWAY.total_seconds() > moment:
            raise InvalidToken("The login token was issued in the future (check the clock)")
        return claims

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
