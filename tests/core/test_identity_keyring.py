"""The token in the OS keyring (real keyring calls through an in-memory backend), the machine
with no keyring, STORYTERM_TOKEN, and the runtime's idea of who is logged in."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import keyring
import pytest
from keyring.errors import KeyringError, PasswordSetError

from storyterm.core.identity.accounts import NO_KEYRING, TokenStore
from storyterm.core.runtime import Runtime, TokenSource
from storyterm.errors import InvalidToken
from storyterm.settings import load_settings
from tests.helpers import MemoryKeyring, login_as


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(database_url=sqlite_url))
    yield runtime
    runtime.close()


class BrokenKeyring(MemoryKeyring):
    """A keyring that is there but fails (a locked wallet, a D-Bus error)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("the wallet is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the wallet is locked")

    delete_password = set_password  # type: ignore[assignment]


def test_the_token_lives_in_the_keyring_under_the_database_id(
    memory_keyring: MemoryKeyring,
) -> None:
    tokens = TokenStore("db-1234")
    assert tokens.available and tokens.unavailable_reason is None
    assert tokens.load() is None
    assert tokens.save("tok") is True
    assert memory_keyring.passwords == {("storyterm:db-1234", "token"): "tok"}
    # A second process (a new TokenStore) finds it there.
    assert TokenStore("db-1234").load() == "tok"
    assert TokenStore("db-other").load() is None
    TokenStore("db-1234").clear()
    assert memory_keyring.passwords == {}
    tokens.clear()  # nothing saved: no error


def test_without_a_keyring_the_token_is_kept_for_this_run_only(no_keyring: None) -> None:
    tokens = TokenStore("db-1234")
    assert not tokens.available
    assert tokens.unavailable_reason == NO_KEYRING
    assert tokens.save("tok") is False
    assert tokens.load() == "tok"  # this run still has it
    assert TokenStore("db-1234").load() is None  # the next run does not
    tokens.clear()
    assert tokens.load() is None


def test_a_failing_keyring_falls_back_to_memory_and_says_why(
    memory_keyring: MemoryKeyring,
) -> None:
    keyring.set_keyring(BrokenKeyring())
    tokens = TokenStore("db-1234")
    assert tokens.available  # it looks fine until it is used
    assert tokens.load() is None
    assert not tokens.available
    assert "could not read the login (KeyringError: the wallet is locked)" in (
        tokens.unavailable_reason or ""
    )
    assert tokens.save("tok") is False
    assert tokens.load() == "tok"
    tokens.clear()


def test_a_keyring_that_fails_only_when_saving(memory_keyring: MemoryKeyring) -> None:
    class ReadOnly(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            raise PasswordSetError("read-only keyring")

    keyring.set_keyring(ReadOnly())
    tokens = TokenStore("db-1234")
    assert tokens.save("tok") is False
    assert "could not save the login (PasswordSetError: read-only keyring)" in (
        tokens.unavailable_reason or ""
    )
    assert tokens.load() == "tok"


def test_the_null_keyring_counts_as_none(memory_keyring: MemoryKeyring) -> None:
    from keyring.backends import null

    keyring.set_keyring(null.Keyring())
    tokens = TokenStore("db-1234")
    assert not tokens.available and "turned off" in (tokens.unavailable_reason or "")
    assert tokens.save("tok") is False and tokens.load() == "tok"


def test_current_account_reads_the_keyring(runtime: Runtime) -> None:
    assert runtime.current_login() is None
    assert runtime.current_account() is None
    alice = login_as(runtime, "alice")
    assert runtime.current_account() == alice
    assert runtime.current_login().source is TokenSource.KEYRING  # type: ignore[union-attr]
    # A new process on the same database is logged in too.
    again = Runtime(load_settings(database_url=runtime.settings.database_url))
    try:
        assert again.current_account() == alice
    finally:
        again.close()


def test_storyterm_token_comes_before_the_keyring(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_as(runtime, "alice")
    monkeypatch.setenv("STORYTERM_DATABASE_URL", runtime.settings.database_url)
    bob = login_as(monkeypatch, "bob")
    scripted = Runtime()
    try:
        assert scripted.current_account() == bob
        assert scripted.current_login().source is TokenSource.ENV  # type: ignore[union-attr]
    finally:
        scripted.close()


def test_a_bad_token_raises_with_what_to_do(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.tokens.save("not-a-token")
    with pytest.raises(InvalidToken, match=r"Please log in again \(`storyterm login`\)"):
        runtime.current_account()
    monkeypatch.setenv("STORYTERM_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("STORYTERM_TOKEN", "garbage")
    scripted = Runtime()
    try:
        with pytest.raises(InvalidToken) as caught:
            scripted.current_account()
    finally:
        scripted.close()
    assert "(the token in STORYTERM_TOKEN)" in str(caught.value)
    assert "storyterm login --print-token" in str(caught.value)


def test_without_a_keyring_a_login_lasts_for_the_run(runtime: Runtime, no_keyring: None) -> None:
    alice = login_as(runtime, "alice")
    assert runtime.current_account() == alice
    assert runtime.current_login().source is TokenSource.MEMORY  # type: ignore[union-attr]
    again = Runtime(load_settings(database_url=runtime.settings.database_url))
    try:
        assert again.current_account() is None
    finally:
        again.close()


def test_importing_the_core_loads_neither_keyring_nor_jwt() -> None:
    code = (
        "import sys, storyterm.core.runtime, storyterm.core.identity.accounts, storyterm.cli\n"
        "print(sorted(m for m in ('keyring', 'jwt', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
