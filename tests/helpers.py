"""Small helpers shared by the tests.

- `make_user(store, name)`: a bare user row, for tests of the session core that do not care how
  the writer logged in.
- `login_as(runtime_or_monkeypatch, username)`: a real account, registered (or logged in when it
  exists) through the identity service, with a real token where the command line will find it:

      runtime = Runtime()                    # or Runtime(load_settings(database_url=...))
      alice = login_as(runtime, "alice")     # token saved in runtime.tokens (the keyring)
      CliRunner().invoke(cli, ["sessions"])  # a new process-like Runtime finds the same login

      bob = login_as(monkeypatch, "bob")     # token put in STORYTERM_TOKEN (scripts, servers)

  With a Runtime, the token goes to `runtime.tokens`: the in-memory keyring that the autouse
  `memory_keyring` fixture installs for every test (or, under `no_keyring`, that runtime's
  memory only). A later Runtime on the same database (a CliRunner invocation builds one) reads
  it from the keyring, exactly as a second `storyterm` command would. With pytest's
  `monkeypatch`, a Runtime is built from the current STORYTERM_* environment (so set
  STORYTERM_DATABASE_URL first when the test uses another database) and the token is set as
  STORYTERM_TOKEN, which every later Runtime in the test prefers to the keyring.
  The password is `password_for(username)` unless given.
- `MemoryKeyring`: the keyring backend the tests install instead of the OS keyring.
"""

from __future__ import annotations

import contextlib

import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from storyterm.core.identity.accounts import Account
from storyterm.core.runtime import Runtime
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import User
from storyterm.errors import Conflict


def make_user(store: Store, username: str = "alice") -> int:
    """A user row made directly (the identity tests cover registration itself)."""
    users = User.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        return conn.execute(
            users.insert()
            .values(username=username, username_key=username.casefold(), password_hash="!")
            .returning(users.c.id)
        ).scalar_one()


def password_for(username: str) -> str:
    return f"{username}-has-a-long-password"


def login_as(
    target: Runtime | pytest.MonkeyPatch, username: str = "alice", password: str | None = None
) -> Account:
    """Register `username` (or log in when it exists) and keep the token where commands look:
    in the runtime's token store, or in STORYTERM_TOKEN when given a MonkeyPatch. See the module
    docstring."""
    password = password or password_for(username)
    runtime = target if isinstance(target, Runtime) else Runtime()
    try:
        with contextlib.suppress(Conflict):  # already registered in this test: log in
            runtime.identity.register(username, password)
        account, token = runtime.identity.login(username, password)
        if isinstance(target, Runtime):
            runtime.tokens.save(token)
        else:
            target.setenv("STORYTERM_TOKEN", token)
    finally:
        if runtime is not target:
            runtime.close()
    return account


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict: real keyring calls, no OS keyring touched."""

    #: Below the fail backend's 0, so keyring never picks it on its own.
    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such password") from None
