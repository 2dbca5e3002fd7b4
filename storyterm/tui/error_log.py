"""What the TUI does with an error nobody expected: the whole traceback goes to a log file in the
user state folder (log/storyterm.log, rotating), the writer gets one line that says what happened
and where that file is.

The file also takes storyterm's other log records (warnings and the start-up time) while the TUI
runs: with no handler they would go nowhere, or to a terminal the TUI is drawing on.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

#: The package's logger: every module logs under it (logging.getLogger(__name__)).
PACKAGE_LOGGER = "storyterm"
LOG_FOLDER = "log"
LOG_FILE = "storyterm.log"
#: A log that rotates at 1 MB and keeps 3 old files never fills a disk.
MAX_BYTES = 1_000_000
BACKUPS = 3
#: Characters of an error's own message shown to the writer (the log has all of it).
SHOWN_CHARS = 160

log = logging.getLogger("storyterm.tui.errors")


def log_path(state_dir: Path) -> Path:
    """Where the TUI's log file lives for the state folder `state_dir` (settings.state_dir)."""
    return state_dir / LOG_FOLDER / LOG_FILE


def one_line(error: BaseException) -> str:
    """`RuntimeError: what it said`, on one line and short: never a traceback."""
    said = " ".join(str(error).split())
    if len(said) > SHOWN_CHARS:
        said = said[: SHOWN_CHARS - 1] + "…"
    name = type(error).__name__
    return f"{name}: {said}" if said else name


class ErrorLog:
    """The log file, attached to the package's logger while the app runs (opened once, from
    any thread; closed when the app ends, so that apps run one after another in one process,
    as tests do, each write to their own)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Why the file cannot be written (None: it can, or has not been tried yet).
        self.problem: str | None = None
        self._handler: logging.Handler | None = None
        self._level_before: int | None = None
        self._lock = threading.Lock()

    def open(self) -> bool:
        """Attach the file (its folder made if missing); False, with `problem` set, when the
        folder cannot be made. The file itself is created by the first record."""
        from logging.handlers import RotatingFileHandler

        with self._lock:
            if self._handler is not None:
                return True
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handler = RotatingFileHandler(
                    self.path,
                    maxBytes=MAX_BYTES,
                    backupCount=BACKUPS,
                    encoding="utf-8",
                    delay=True,
                )
            except OSError as exc:
                self.problem = exc.strerror or str(exc)
                return False
            handler.setLevel(logging.INFO)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger = logging.getLogger(PACKAGE_LOGGER)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                self._level_before = logger.level
                logger.setLevel(logging.INFO)
            logger.addHandler(handler)
            self._handler = handler
            self.problem = None
            return True

    def close(self) -> None:
        with self._lock:
            handler, self._handler = self._handler, None
            if handler is None:
                return
            logger = logging.getLogger(PACKAGE_LOGGER)
            logger.removeHandler(handler)
            if self._level_before is not None:
                logger.setLevel(self._level_before)
                self._level_before = None
            handler.close()

    def record(self, error: BaseException, where: str) -> bool:
        """Write `error` with its traceback; False when it could not be written (`problem`
        says why)."""
        if not self.open():
            return False
        log.error("Unexpected error in %s: %s", where, one_line(error), exc_info=error)
        # A logging handler that cannot write says so on stderr and carries on: look.
        if not self.path.exists():
            self.problem = "the file could not be written"
            return False
        return True

    def where(self) -> str:
        """The sentence that tells the writer where the details are."""
        if self.problem is None:
            return f"The details are in {self.path}."
        return f"The details could not be written to {self.path} ({self.problem})."
