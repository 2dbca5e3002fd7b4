"""The real storyterm app on a pseudo-terminal, for tests that must see the bytes a terminal
gets (Textual's headless test driver writes none)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
#: Key names as a terminal sends them.
KEYS = {"escape": b"\x1b", "enter": b"\r", "ctrl+q": b"\x11", "ctrl+s": b"\x13"}


class PtyApp:
    """`python -m storyterm` on a 120x40 pty; `output` holds every byte it wrote."""

    def __init__(self, env: dict[str, str], *, ready_file: Path, timeout: float = 30.0) -> None:
        self.env = {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        self.ready_file = ready_file
        self.timeout = timeout
        self.output = bytearray()

    def __enter__(self) -> PtyApp:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storyterm"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self._until(self.ready_file.exists, "the app to be ready")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, KEYS["ctrl+q"])
        end = time.monotonic() + 5
        while self.proc.poll() is None and time.monotonic() < end:
            self._read(0.05)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        os.close(self.master)

    def _read(self, wait: float) -> None:
        if select.select([self.master], [], [], wait)[0]:
            with contextlib.suppress(OSError):
                self.output += os.read(self.master, 65536)

    def _until(self, predicate: object, what: str) -> None:
        end = time.monotonic() + self.timeout
        while not predicate():  # type: ignore[operator]
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the app exited ({self.proc.returncode}) waiting for {what}: "
                    f"{self.output[-2000:].decode('utf-8', 'replace')}"
                )
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            self._read(0.02)

    def wait_for(self, text: bytes) -> None:
        """Read until `text` has been written (searching only what arrived since the last wait
        would miss text split across reads, so the whole output is searched)."""
        self._until(lambda: text in self.output, repr(text))

    def press(self, *keys: str) -> None:
        """Type `keys` one at a time, a pause after each: a terminal's lone ESC followed at
        once by a letter is read as alt+letter."""
        for key in keys:
            os.write(self.master, KEYS.get(key, key.encode()))
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                self._read(0.05)
