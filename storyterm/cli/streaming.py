"""`storyterm continue` while a part streams: its text printed as it comes, and the signals that
stop it the way Ctrl-C does, so that the words written so far are saved before the process ends.

SIGINT (Ctrl-C), SIGTERM (`kill`, a service or a container being stopped) and SIGHUP (the
terminal was closed) all set the generation's cancel event: the storyteller stops and keeps the
text as an interrupted part. A second signal stops waiting for the final save as well (the
storyteller still saves synchronously as its task unwinds). The exit status is 128 + the signal's
number, the shell's convention (130 for Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from storyterm.cli.common import say, styled

#: Exit status after Ctrl-C stopped a generation (the shell convention for SIGINT).
EXIT_STOPPED = 128 + signal.SIGINT

#: The signals that stop a part being written and keep its text (SIGHUP is not on Windows).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StoryOut:
    """The part's text on stdout as it streams and the notes on stderr, terminal-safe (`say`).

    A terminal that went away (closed: SIGHUP; a pipe whose reader quit) ends the printing, not
    the generation: the first failed write turns that stream off (its descriptor then points at
    the null device, so that Python's own flush at exit fails neither), and the part is saved
    as if it had been printed."""

    def __init__(self) -> None:
        self.wrote = False
        self._held = ""
        self._gone: set[bool] = set()  # err flags of the streams that failed

    def write(self, delta: str) -> None:
        # A CR at the end of a delta may be half of a CR LF: the next delta decides
        # (terminal_safe turns a lone CR into a line break).
        text, self._held = self._held + delta, ""
        if text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        self._say(text, nl=False)
        self.wrote = True

    def end(self) -> None:
        """End the story's last line, so that what follows starts on a line of its own."""
        if self.wrote:
            self._say("")

    def note(self, message: str, *, dim: bool = True) -> None:
        """A line for the writer on stderr (dim: progress; plain: how it ended)."""
        self._say(styled(message, dim=True) if dim else message, err=True)

    def _say(self, text: str, *, err: bool = False, nl: bool = True) -> None:
        if err in self._gone:
            return
        try:
            say(text, err=err, nl=nl)
        except OSError:
            self._gone.add(err)
            _silence(sys.stderr if err else sys.stdout)


def _silence(stream: object) -> None:
    """Point `stream`'s file descriptor at the null device (best effort)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = stream.fileno()  # type: ignore[attr-defined]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


class SignalsStop:
    """While a part streams: the first stop signal sets `cancel` (the text is kept), a second
    one cancels the task that waits for the final save. Use as a context manager inside the
    event loop; `signum` is the first signal that came (None: none)."""

    def __init__(self, cancel: asyncio.Event) -> None:
        self.cancel = cancel
        self.signum: int | None = None
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> SignalsStop:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(signum, self._on_signal, signum)
                self._installed.append(signum)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum in self._installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.remove_signal_handler(signum)
        self._installed.clear()

    def _on_signal(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
            self.cancel.set()
        elif self._task is not None:
            self._task.cancel()

    def exit_status(self, status: int) -> int:
        """`status` as the process should end with it: a generation stopped by a signal ends
        with 128 + that signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
        if status == EXIT_STOPPED and self.signum is not None:
            return 128 + self.signum
        return status
