"""What the TUI remembers between runs (the theme, who last logged in to each database), in a
small JSON file in the config dir.

config.toml belongs to the writer; this file belongs to the app, so choosing a theme never
rewrites a file the writer edits by hand.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "tui-state.json"


class TuiState:
    """The remembered choices; unknown or broken files read as 'nothing remembered'. (A plain
    class: it is read at start-up, where creating a dataclass compiles its methods.)"""

    __slots__ = ("last_username", "theme", "usernames")

    def __init__(
        self,
        theme: str | None = None,
        last_username: str | None = None,
        usernames: dict[str, str] | None = None,
    ) -> None:
        self.theme = theme
        #: Who last logged in to each database (a name, never a password or token), by
        #: database_key(): the login screen offers "Log in" with it instead of "Create account".
        self.usernames: dict[str, str] = dict(usernames or {})
        #: The one name older versions kept for every database: offered to a database with no
        #: name of its own until a login is remembered the new way (then it is not written).
        self.last_username = last_username

    def username_for(self, database_url: str) -> str | None:
        """Who last logged in to the database at `database_url` here."""
        return self.usernames.get(database_key(database_url), self.last_username)

    def remember_username(self, database_url: str, username: str) -> bool:
        """Remember `username` for that database; False when it was remembered already."""
        key = database_key(database_url)
        if self.usernames.get(key) == username and self.last_username is None:
            return False
        self.usernames[key] = username
        # The old single name belonged to some database, nobody knows which: offering it to
        # every other one is how one database's name showed up on another's login screen.
        self.last_username = None
        return True

    @classmethod
    def load(cls, path: Path) -> TuiState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("Ignoring unreadable %s: %s", path, exc)
            return cls()
        if not isinstance(data, dict):
            return cls()

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        usernames = data.get("usernames")
        return cls(
            theme=text("theme"),
            last_username=text("last_username"),
            usernames={
                key: name
                for key, name in (usernames.items() if isinstance(usernames, dict) else ())
                if isinstance(key, str) and isinstance(name, str) and name
            },
        )

    def save(self, path: Path) -> None:
        """Write atomically, so a crash mid-write never leaves a half file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tui-state-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                data: dict[str, object] = {"theme": self.theme, "usernames": self.usernames}
                if self.last_username is not None:
                    data["last_username"] = self.last_username
                json.dump(data, handle, indent=2)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def database_key(url: str) -> str:
    """A database URL as the key of the name remembered for it: without its password and its
    query (either may hold a secret, and this file is not a place for one)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    rest = rest.partition("?")[0].partition("#")[0]
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at:
        authority = f"{userinfo.partition(':')[0]}@{host}"
    return f"{scheme}://{authority}{slash}{path}"
