"""What the TUI remembers between runs (the theme), in a small JSON file in the config dir.

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

    __slots__ = ("last_username", "theme")

    def __init__(self, theme: str | None = None, last_username: str | None = None) -> None:
        self.theme = theme
        #: Who last logged in here (a name, never a password or token): the login screen
        #: offers "Log in" with it instead of "Create account".
        self.last_username = last_username

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

        return cls(theme=text("theme"), last_username=text("last_username"))

    def save(self, path: Path) -> None:
        """Write atomically, so a crash mid-write never leaves a half file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tui-state-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(
                    {"theme": self.theme, "last_username": self.last_username}, handle, indent=2
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
