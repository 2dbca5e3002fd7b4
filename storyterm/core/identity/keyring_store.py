"""The login token of one database, kept in the OS keyring (or in memory where there is none).

keyring is imported when first needed: the TUI's start-up reads STORYTERM_TOKEN or the keyring
before anything else, and a writer without a keyring must not pay for it.
"""

from __future__ import annotations

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
