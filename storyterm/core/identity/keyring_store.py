"""The login token of one database, kept in the OS keyring (or in memory where there is none).

keyring is imported when first needed: the TUI's start-up reads STORYTERM_TOKEN or the keyring
before anything else, and a writer without a keyring must not pay for it.

The login hint. Loading keyring (and its own imports) is a good part of the TUI's start-up, so
beside a token saved in the keyring storyterm keeps the token's *unsigned part* (its header and
claims, `tokens.unsigned_part`) in a file of the state folder: who is logged in, which login
(its id) and until when, which anyone can read in the token itself; without the signature it
logs in nowhere. The TUI's first frame checks the hint against the database as it would check
the token (not expired, not logged out, the account there with the same password) and shows
that writer's stories; right after the first frame it reads the keyring and checks the real
token completely (Runtime.confirm_login), which must be the token the hint was taken from. The
hint shows nothing the database's own credentials do not already let this user read, and
saving or clearing the token here writes or removes it, so `storyterm login` and `logout` keep
the two together.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

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

    def __init__(self, database_id: str, hint_dir: Path | None = None) -> None:
        self.database_id = database_id
        self.service = f"storyterm:{database_id}"
        #: Where the login hint of a token in the keyring is kept (None: no hint).
        self.hint_path = hint_dir / f"{database_id}.hint" if hint_dir is not None else None
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
            self.forget_hint()
            return False
        self.keep_hint(token)
        return True

    def clear(self) -> None:
        """Forget the token here (the keyring entry, its hint and the in-memory copy)."""
        self._memory = None
        self.forget_hint()
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

    # -- the login hint (see the module's docstring) ------------------------------------------

    def hint(self) -> str | None:
        """The unsigned part of the token saved in the keyring, as kept beside it; None when
        there is none (or it cannot be read: the keyring is read instead)."""
        if self.hint_path is None:
            return None
        try:
            with open(self.hint_path, encoding="ascii") as file:
                return file.read(4096).strip() or None
        except (OSError, ValueError):
            return None

    def keep_hint(self, token: str) -> None:
        """Keep the hint of `token` (in the keyring); a hint that cannot be written is only a
        slower next start."""
        if self.hint_path is None:
            return
        from storyterm.core.identity.tokens import unsigned_part
        from storyterm.core.storage.file_modes import make_private_folder, open_private

        temp = self.hint_path.with_name(f".{self.hint_path.name}.tmp")
        try:
            make_private_folder(self.hint_path.parent)
            with open_private(temp) as file:
                file.write(unsigned_part(token))
            os.replace(temp, self.hint_path)
        except OSError as exc:
            log.warning("Could not keep the login hint %s: %s", self.hint_path, exc)
            with contextlib.suppress(OSError):
                temp.unlink()

    def forget_hint(self) -> None:
        if self.hint_path is None:
            return
        try:
            self.hint_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("Could not remove the login hint %s: %s", self.hint_path, exc)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
