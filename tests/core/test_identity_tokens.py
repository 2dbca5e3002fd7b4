"""Hostile login tokens: every one gets a clear InvalidToken (401), never a traceback, on SQLite
and PostgreSQL, through the core, the command line and the API; and PyJWT is what signs and
checks them (the TUI's first frame reads the login without importing it)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.first_look import FirstLook
from storyterm.core.identity.accounts import IdentityService
from storyterm.core.identity.tokens import TOKEN_MAX, TokenSigner
from storyterm.core.runtime import Runtime
from storyterm.core.storage.database import META_JWT_SECRET, ensure_meta
from storyterm.core.storage.store import Store
from storyterm.errors import InvalidToken
from storyterm.settings import load_settings
from tests.helpers import login_as

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.open(database_url, None)
    yield store
    store.close()


@pytest.fixture
def identity(store: Store) -> IdentityService:
    return IdentityService(store, load_settings(), clock=lambda: NOW)


@pytest.fixture
def genuine(identity: IdentityService) -> tuple[str, dict, bytes]:
    """alice's real token, its claims and the database's signing secret."""
    identity.register("alice", PASSWORD)
    _, token = identity.login("alice", PASSWORD)
    claims = jwt.decode(token, options={"verify_signature": False})
    secret = ensure_meta(identity.store.engine)[META_JWT_SECRET].encode()
    return token, claims, secret


def hostile_tokens(claims: dict, secret: bytes) -> dict[str, tuple[str, str]]:
    """name -> (token, what the refusal says)."""

    def signed(**changes: object) -> str:
        body = {**claims, **changes}
        return jwt.encode({k: v for k, v in body.items() if v is not ...}, secret, "HS256")

    def raw(header: str, body: str, signature: str = "c2ln") -> str:
        return f"{b64(header)}.{b64(body)}.{signature}"

    nested = "[" * 1500 + "]" * 1500
    return {
        "a header of 1,500 nested [": (raw(nested, "{}"), "not a storyterm login token"),
        "a body of 1,500 nested [": (
            f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(nested)}.c2ln",
            "signature",
        ),
        "exp = -10**20, validly signed": (signed(exp=-(10**20)), "Your login has expired"),
        "exp = 10**30, validly signed": (signed(exp=10**30, iat=10**30), "issued in the future"),
        "iat = 10**30": (signed(iat=10**30), "issued in the future"),
        "iat = -10**30": (signed(iat=-(10**30)), ""),  # harmless: it is checked and accepted
        "nbf = 10**30": (signed(nbf=10**30), "not valid yet"),
        "nbf = -10**30": (signed(nbf=-(10**30)), ""),
        "exp = Infinity": (signed(exp=float("inf")), "not a valid"),
        "exp = NaN": (signed(exp=float("nan")), "not a valid"),
        "exp = 1.5": (signed(exp=claims["exp"] + 0.5), "not a valid"),
        "exp = '9999999999'": (signed(exp="9999999999"), "not a valid"),
        "exp = true": (signed(exp=True), "not a valid"),
        "sub = 7": (signed(sub=7), "not a valid"),
        "sub = ['1']": (signed(sub=["1"]), "not a valid"),
        "sub = '१'": (signed(sub="१"), "not a valid"),  # a Devanagari digit
        "sub = 4,000 digits": (signed(sub="1" * 2000), "not a valid"),
        "jti = 5": (signed(jti=5), "not a valid"),
        "jti = {}": (signed(jti={"a": 1}), "not a valid"),
        "jti with NUL": (signed(jti="a\x00b"), "not a valid"),
        "jti with a lone surrogate": (signed(jti="a\ud800"), "not a valid"),
        "pwd = 12": (signed(pwd=12), "not a valid"),
        "pwd non-ASCII": (signed(pwd="é" * 16), "not a valid"),
        "aud as a list holding ours": (signed(aud=[claims["aud"]]), "not a valid"),
        "aud of another database": (signed(aud="storyterm:elsewhere"), "another storyterm"),
        "iss = None": (signed(iss=...), "not a valid"),
        "iss another": (signed(iss="someone"), "not a valid"),
        "claims are a list, signed": (
            jwt.api_jws.encode(b"[1]", secret, "HS256"),  # PyJWT's JWS layer signs any bytes
            "not a valid",
        ),
        "alg none": (raw('{"alg":"none"}', json.dumps(claims), ""), "'none'"),
        "alg as a list": (raw('{"alg":["HS256"]}', json.dumps(claims)), "'something'"),
        "alg with a terminal escape": (raw('{"alg":"\\u001b]0;pwned\\u0007"}', "{}"), "\\x1b"),
        "header is a list": (raw("[]", "{}"), "not a storyterm login token"),
        "header not JSON": (raw("{alg", "{}"), "not a storyterm login token"),
        "header not UTF-8": (f"{b64(bytes([0xFF, 0xFE]))}.e30.c2ln", "not a storyterm login"),
        "non-ASCII": ("é.é.é", "not a storyterm login token"),
        "base64 garbage": ("!!!!.@@@@.####", "not a storyterm login token"),
        "a 1 MB token": ("a" * 1_000_000 + ".b.c", "not a storyterm login token"),
        "just over the limit": ("a." + "b" * TOKEN_MAX + ".c", "not a storyterm login token"),
        "four segments": (signed() + ".x", "not a storyterm login token"),
        "NUL": ("\x00.\x00.\x00", "not a storyterm login token"),
        "a lone surrogate": ("\ud800.a.b", "not a storyterm login token"),
    }


def test_every_hostile_token_gets_a_clear_invalid_token(
    identity: IdentityService, genuine: tuple[str, dict, bytes]
) -> None:
    token, claims, secret = genuine
    for name, (hostile, says) in hostile_tokens(claims, secret).items():
        if not says:  # harmless values: still alice, still valid
            assert identity.verify(hostile).username == "alice", name
            continue
        with pytest.raises(InvalidToken) as caught:
            identity.verify(hostile)
        message = caught.value.message
        assert says in message, (name, message)
        assert message.endswith("Please log in again (`storyterm login`)."), (name, message)
        assert identity.logout(hostile) is False, name
    for garbage in (None, 42, b"x", ["a.b.c"], {"token": token}):
        with pytest.raises(InvalidToken, match="not a storyterm login token"):
            identity.verify(garbage)  # type: ignore[arg-type]
    assert identity.verify(token).username == "alice"  # nothing above broke the real one


def test_pyjwt_signs_the_tokens_and_refuses_what_it_does_not_make(
    identity: IdentityService, genuine: tuple[str, dict, bytes]
) -> None:
    token, claims, secret = genuine
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    # Checked by PyJWT with the database's secret, audience and issuer (at the test's clock).
    checked = jwt.decode(
        token, secret, algorithms=["HS256"], audience=claims["aud"], options={"verify_exp": 0}
    )
    assert checked == claims
    # A token PyJWT makes from the same claims and secret is accepted: the same format.
    assert identity.verify(jwt.encode(claims, secret, algorithm="HS256")).username == "alice"
    # One changed character of the signature is refused by PyJWT's check.
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken, match="does not carry this database's signature"):
        identity.verify(f"{head}.{body}.{flipped}")


def test_the_command_line_and_the_api_refuse_hostile_tokens_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_as(monkeypatch, "alice")
    runtime = Runtime()
    try:
        runtime.current_account()
        secret = ensure_meta(runtime.store.engine)[META_JWT_SECRET].encode()
        claims = jwt.decode(runtime.settings.token or "", options={"verify_signature": False})
    finally:
        runtime.close()
    tokens = hostile_tokens(claims, secret)
    for name in ("a header of 1,500 nested [", "exp = -10**20, validly signed", "alg none"):
        hostile, says = tokens[name]
        monkeypatch.setenv("STORYTERM_TOKEN", hostile)
        result = CliRunner().invoke(cli, ["sessions"])
        assert result.exit_code != 0, name
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            name,
            result.exception,
        )
        assert says in result.output and "STORYTERM_TOKEN" in result.output, result.output
        assert "Traceback" not in result.output

    from fastapi.testclient import TestClient

    from storyterm.api.app import create_app

    monkeypatch.delenv("STORYTERM_TOKEN")
    runtime = Runtime()
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            for name, (hostile, says) in tokens.items():
                if not says or not hostile.isascii() or len(hostile) > 100_000:
                    continue  # HTTP headers are ASCII; the size limit is the server's
                response = client.get(
                    "/api/langchain/sessions", headers={"Authorization": f"Bearer {hostile}"}
                )
                assert response.status_code == 401, (name, response.text)
                assert response.json()["error"]["code"] == "invalid_token", name
    finally:
        runtime.close()


# -- the first frame -----------------------------------------------------------------------


def test_the_first_frame_reads_the_login_without_pyjwt_and_as_strictly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FirstLook.verify(signature=False) is what the TUI's first frame uses: it never imports
    jwt, refuses every hostile token as the full check does, and lets through only a token made
    for this account's current password (its `pwd` is keyed with the database's secret)."""
    alice = login_as(monkeypatch, "alice")
    runtime = Runtime()
    token = runtime.settings.token or ""
    try:
        runtime.identity.register("bob", PASSWORD)
        secret = ensure_meta(runtime.store.engine)[META_JWT_SECRET].encode()
        bob_id = runtime.identity.login("bob", PASSWORD)[0].id
    finally:
        runtime.close()
    claims = jwt.decode(token, options={"verify_signature": False})
    look = FirstLook.open(load_settings().resolved_database_url, None)
    assert look is not None
    now = datetime.now(UTC)
    try:
        monkeypatch.setitem(sys.modules, "jwt", None)  # importing it now would fail
        assert look.verify(token, now, signature=False).id == alice.id
        for name, (hostile, says) in hostile_tokens(claims, secret).items():
            if says:
                with pytest.raises(InvalidToken):
                    look.verify(hostile, now, signature=False)
                    pytest.fail(name)
                continue
            assert name.startswith(("iat", "nbf"))
        # alice's claims with bob's id, or a forged fingerprint: no such login.
        for forged in ({**claims, "sub": str(bob_id)}, {**claims, "pwd": "A" * 16}):
            body = b64(json.dumps(forged))
            head, _, signature = token.split(".")
            with pytest.raises(InvalidToken, match="password of this account was changed"):
                look.verify(f"{head}.{body}.{signature}", now, signature=False)
    finally:
        monkeypatch.delitem(sys.modules, "jwt")
        look.close()
    # The full check sees what the first frame cannot: a token re-dated by hand.
    later = b64(json.dumps({**claims, "exp": claims["exp"] + 86400}))
    head, _, signature = token.split(".")
    redated = f"{head}.{later}.{signature}"
    look = FirstLook.open(load_settings().resolved_database_url, None)
    assert look is not None
    try:
        assert look.verify(redated, now, signature=False).id == alice.id
        with pytest.raises(InvalidToken, match="signature"):
            look.verify(redated, now)
    finally:
        look.close()


def test_a_login_shown_by_the_first_frame_is_confirmed_by_pyjwt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_as(monkeypatch, "alice")
    token = Runtime().settings.token or ""
    claims = jwt.decode(token, options={"verify_signature": False})
    head, _, signature = token.split(".")
    redated = f"{head}.{b64(json.dumps({**claims, 'exp': claims['exp'] + 1}))}.{signature}"
    monkeypatch.setenv("STORYTERM_TOKEN", redated)
    runtime = Runtime()
    try:
        assert runtime.current_account(first_frame=True) is not None
        with pytest.raises(InvalidToken, match=r"signature.*STORYTERM_TOKEN"):
            runtime.confirm_login()
        assert runtime.confirm_login() is None  # checked once
    finally:
        runtime.close()
    runtime = Runtime()
    try:  # without first_frame, the first look checks the signature itself
        with pytest.raises(InvalidToken, match="signature"):
            runtime.current_account()
    finally:
        runtime.close()


def test_token_signer_issues_with_pyjwt() -> None:
    signer = TokenSigner(b"s" * 32, "storyterm:db")
    token = signer.issue(3, "hash", NOW, timedelta(days=1))
    claims = jwt.decode(
        token, b"s" * 32, algorithms=["HS256"], audience="storyterm:db", options={"verify_exp": 0}
    )
    assert claims["sub"] == "3" and claims["exp"] - claims["iat"] == 86400
    assert signer.decode(token, NOW) == claims == signer.peek_claims(token, NOW)
