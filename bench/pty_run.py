"""Run a terminal program in a pseudo-terminal of a given size, as a writer's terminal would,
and time it from the moment before it was started to the moment it says it is ready."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS, ROWS = 160, 45


@dataclass
class Launch:
    """How long a launch took (seconds since just before the process was started)."""

    ready_s: float
    report: dict[str, Any]
    screen_bytes: int
    #: Whatever `on_ready` returned.
    extra: Any = None


def launch(
    argv: Sequence[str],
    report_path: Path,
    *,
    env: dict[str, str],
    cwd: Path,
    ready: Callable[[dict[str, Any]], float | None],
    timeout: float = 60.0,
    quit_keys: bytes = b"\x11",  # ctrl+q
    on_ready: Callable[[int], Any] | None = None,
    settle: float = 0.0,
) -> Launch:
    """Start `argv` on a pty, wait until `report_path` exists and parses, then stop it.

    `ready(report)` turns the report into the perf_counter moment the program was ready (or
    None to use the moment the report appeared). `on_ready(pid)` runs while the program is still
    up (to read its memory, say), `settle` seconds after it was ready.
    """
    report_path.unlink(missing_ok=True)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    received = 0
    report: dict[str, Any] | None = None
    seen_at = 0.0
    deadline = t0 + timeout
    output = bytearray()
    try:
        while time.perf_counter() < deadline:
            readable, _w, _x = select.select([master], [], [], 0.005)
            if readable:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                received += len(chunk)
                if len(output) < 20000:
                    output += chunk
            if report is None and report_path.exists():
                with contextlib.suppress(ValueError, OSError):
                    report = json.loads(report_path.read_text())
                    seen_at = time.perf_counter()
                if report is not None:
                    break
            if proc.poll() is not None and report is None and not readable:
                tail = output[-2000:].decode("utf-8", "replace")
                raise RuntimeError(
                    f"{' '.join(argv)} exited with {proc.returncode} before it was ready:\n{tail}"
                )
        if report is None:
            raise TimeoutError(f"{' '.join(argv)} was not ready after {timeout:.0f} s")
        moment = ready(report)
        ready_s = (moment if moment is not None else seen_at) - t0
        end = time.perf_counter() + settle
        while time.perf_counter() < end:
            if select.select([master], [], [], 0.01)[0]:
                with contextlib.suppress(OSError):
                    received += len(os.read(master, 65536))
        extra = on_ready(proc.pid) if on_ready is not None else None
        return Launch(ready_s=ready_s, report=report, screen_bytes=received, extra=extra)
    finally:
        _stop(proc, master, quit_keys)


def _stop(proc: subprocess.Popen[bytes], master: int, quit_keys: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(master, quit_keys)
    end = time.perf_counter() + 3
    while proc.poll() is None and time.perf_counter() < end:
        with contextlib.suppress(OSError):
            if select.select([master], [], [], 0.02)[0]:
                os.read(master, 65536)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    os.close(master)
