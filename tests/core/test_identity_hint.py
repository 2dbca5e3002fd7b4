"""The login hint: the unsigned part of the keyring's token, kept beside it so that the TUI's
first frame does not wait for keyring to load (core/identity/keyring_store.py). It must follow
the token everywhere (login, logout, another login), show nobody a frame the keyring would not,
and never be a login by itself."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator

import keyring
import pytest

from storyterm.core.runtime import LOGIN_HINTS, Runtime, TokenSource
from storyterm.errors import InvalidToken
from storyterm.settings import load_settings
from tests.helpers import MemoryKeyring, login_as


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(database_url=sqlite_url))
    yield runtime
    runtime.close()


def fresh(runtime: Runtime) -> Runtime:
    """The next start of storyterm on the same database (first look open, Store not)."""
    return Runtime(runtime.settings)


def test_saving_a_login_keeps_its_hint_without_the_signature(runtime: Runtime) -> None:
    login_as(runtime, "alice")
    token = runtime.tokens.load() or ""
    hint_file = runtime.settings.state_dir / LOGIN_HINTS / f"{runtime.database_id}.hint"
    hint = hint_file.read_text()
    head, body, signature = token.split(".")
    assert hint == f"{head}.{body}" and signature not in hint
    assert stat.S_IMODE(hint_file.stat().st_mode) == 0o600
    runtime.tokens.clear()  # logging out here
    assert not hint_file.exists()


def test_the_first_frame_comes_from_the_hint_without_loading_keyring(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = login_as(runtime, "alice")
    later = fresh(runtime)
    try:
        monkeypatch.setitem(sys.modules, "keyring", None)  # importing it now would fail
        account = later.current_account(first_frame=True)
        assert account is not None and account.id == alice.id
        assert later.unconfirmed_login is not None
        assert later.unconfirmed_login.source is TokenSource.HINT
        monkeypatch.delitem(sys.modules, "keyring")
        confirmed = later.confirm_login()  # the keyring's token, checked by PyJWT
        assert confirmed is not None and confirmed.id == alice.id
    finally:
        later.close()


def test_a_hint_whose_token_left_the_keyring_ends_the_frame_it_showed(
    runtime: Runtime, memory_keyring: MemoryKeyring
) -> None:
    login_as(runtime, "alice")
    # The keyring entry removed by another tool (seahorse, `keyring del`), the hint left.
    keyring.delete_password(runtime.tokens.service, runtime.tokens.USERNAME)
    later = fresh(runtime)
    try:
        assert later.current_account(first_frame=True) is not None
        with pytest.raises(InvalidToken, match="no longer in the system keyring"):
            later.confirm_login()
        assert later.tokens.hint() is None  # the next start asks the keyring first
        again = fresh(runtime)
        try:
            assert again.current_account(first_frame=True) is None
        finally:
            again.close()
    finally:
        later.close()


def test_a_hint_of_another_token_than_the_keyring_holds_is_refused(runtime: Runtime) -> None:
    login_as(runtime, "alice")
    first_hint = runtime.tokens.hint()
    login_as(runtime, "bob")  # bob logs in here: keyring and hint now bob's
    assert first_hint is not None
    (runtime.settings.state_dir / LOGIN_HINTS / f"{runtime.database_id}.hint").write_text(
        first_hint
    )  # alice's hint put back by hand
    later = fresh(runtime)
    try:
        account = later.current_account(first_frame=True)
        assert account is not None and account.username == "alice"
        with pytest.raises(InvalidToken, match="changed in the system keyring"):
            later.confirm_login()
    finally:
        later.close()


def test_a_hint_of_a_login_ended_elsewhere_is_not_shown(runtime: Runtime) -> None:
    login_as(runtime, "alice")
    token = runtime.tokens.load() or ""
    runtime.identity.logout(token)  # `storyterm logout` on another machine: revoked
    later = fresh(runtime)
    try:
        with pytest.raises(InvalidToken, match="logout"):
            later.current_account(first_frame=True)  # the keyring's token, refused as before
        assert later.tokens.hint() is None
    finally:
        later.close()


def test_a_forged_hint_shows_nobody(runtime: Runtime) -> None:
    """The hint's claims are checked as a token's are: another writer's id with this writer's
    password fingerprint is no login; garbage is ignored and the keyring decides."""
    import base64
    import json

    login_as(runtime, "alice")
    other = fresh(runtime)
    try:
        bob = login_as(other, "bob")
    finally:
        other.close()  # its Store (and the Store's threads) go with it
    login_as(runtime, "alice")
    hint_file = runtime.settings.state_dir / LOGIN_HINTS / f"{runtime.database_id}.hint"
    head, body = hint_file.read_text().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": str(bob.id)}).encode())
    for hint in (f"{head}.{forged.decode().rstrip('=')}", "garbage", "\x1b]0;x\x07.y"):
        hint_file.write_text(hint)
        later = fresh(runtime)
        try:
            account = later.current_account(first_frame=True)
            assert account is not None and account.username == "alice"  # from the keyring
            assert later.unconfirmed_login is not None
            assert later.unconfirmed_login.source is TokenSource.KEYRING
        finally:
            later.close()


def test_a_login_saved_before_hints_existed_gets_one_at_its_first_confirm(
    runtime: Runtime,
) -> None:
    alice = login_as(runtime, "alice")
    runtime.tokens.forget_hint()
    later = fresh(runtime)
    try:
        account = later.current_account(first_frame=True)
        assert account is not None and account.id == alice.id
        assert later.confirm_login() is not None
        assert later.tokens.hint() is not None
    finally:
        later.close()


def test_storyterm_token_goes_before_the_hint(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(runtime, "alice")
    monkeypatch.setenv("STORYTERM_DATABASE_URL", runtime.settings.resolved_database_url)
    bob = login_as(monkeypatch, "bob")  # STORYTERM_TOKEN
    later = Runtime()
    try:
        account = later.current_account(first_frame=True)
        assert account is not None and account.id == bob.id
        assert later.unconfirmed_login is not None
        assert later.unconfirmed_login.source is TokenSource.ENV
    finally:
        later.close()
