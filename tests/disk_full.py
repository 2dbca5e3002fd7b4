"""Running out of room, two ways.

- `disk_full_switch`: a SQLite database that runs out of room on demand: SQLite's own "database
  or disk is full" (SQLITE_FULL), from its max_page_count limit set to the pages the file has,
  on every connection taken from a pool in this process while `full` is set.
- `SmallDisk`: a real filesystem that fills up: a small tmpfs mounted for one test, filled to
  the last block with a ballast file when the test says so (any process writing there then
  gets ENOSPC), and emptied again by deleting it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

#: SQLite's highest max_page_count (what a connection is given back).
NO_LIMIT = 2**31 - 2


class DiskFull:
    """Switch `full` on and every SQLite write that needs a new page fails as on a full disk."""

    def __init__(self) -> None:
        self.full = threading.Event()

    def checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        if self.full.is_set():
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")
        else:
            dbapi_connection.execute(f"PRAGMA max_page_count = {NO_LIMIT}")


@contextmanager
def disk_full_switch() -> Iterator[DiskFull]:
    switch = DiskFull()
    event.listen(Pool, "checkout", switch.checkout)
    try:
        yield switch
    finally:
        event.remove(Pool, "checkout", switch.checkout)


class SmallDisk:
    """A tmpfs of `size` mounted at `path` (root only); `fill` and `free` the room on it."""

    def __init__(self, path: Path, size: str = "2m") -> None:
        self.path = path
        self.size = size
        self.ballast = path / "ballast"

    def mount(self) -> str | None:
        """Mount it; returns why not when it cannot be mounted here (not root, no tmpfs)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return "mounting a small tmpfs (a disk that really fills up) needs root"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return f"a small tmpfs cannot be mounted here ({done.stderr.strip() or 'mount failed'})"
        return None

    def unmount(self) -> None:
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode != 0:
            # Something still holds a file there (a process the test started): detach it now;
            # the kernel frees it when the last file is closed.
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self) -> None:
        """Write the ballast until the disk refuses another byte."""
        chunk = b"\0" * 65536
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (65536, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, chunk[:size])
        finally:
            os.close(fd)
        assert self.free_bytes() == 0, "the ballast did not fill the disk"

    def free(self) -> None:
        self.ballast.unlink()


@contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[SmallDisk]:
    """A SmallDisk mounted at `path` for the block, unmounted after it.

    Where it cannot be mounted the test is skipped with the reason, and fails instead under
    STORYTERM_REQUIRE_SERVICES=1, like a missing PostgreSQL or Redis: CI runs as root on the
    project's machines, and a full disk that is only ever simulated (disk_full_switch) would
    hide what a real one does (the state folder fails at the write, not at the open)."""
    from tests.conftest import service_missing

    disk = SmallDisk(path, size)
    why_not = disk.mount()
    if why_not is not None:
        service_missing(why_not)
    try:
        yield disk
    finally:
        disk.unmount()
