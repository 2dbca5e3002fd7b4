"""The atomic stage: every file of an export written as a temporary file beside its final
name, put on disk, and only then renamed over the old one, so a failure anywhere leaves the
earlier export exactly as it was."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import secrets
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

#: Temporary files of an export start with this; leftovers of a killed export are swept.
TEMP_PREFIX = ".storyterm-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_AGE = 600.0


class Stage:
    """Files of one export, written as temporary files in the folder and renamed into place
    only once every one of them is safely on disk.

    Flushing each file to disk (fsync) costs a millisecond or more, so a 1,000-part story would
    spend most of its export waiting on the disk one file at a time. Files are written by a few
    threads side by side, then flushed together with one syncfs() of the folder's filesystem
    (Linux) before any of them is renamed into place: still "on disk before it replaces
    anything", for one flush instead of a thousand. Elsewhere each file is fsynced.
    """

    WORKERS = 8
    #: Files handed to the writer threads and not yet written (bounds memory on huge stories).
    MAX_IN_FLIGHT = 64

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[str, str]] = []  # (temp path, final name)
        self.committed: list[str] = []
        self.unchanged = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        #: Regular files already in the folder and their sizes: one directory scan instead of
        #: a stat per part when deciding whether a file is already up to date.
        self.existing: dict[str, int] = {}
        now = time.time()
        for entry in scan(folder):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                # Left behind by a killed export (never a fresh one: another export of the
                # same story may be running right now).
                if now - info.st_mtime > STALE_TEMP_AGE:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
            elif stat.S_ISREG(info.st_mode):
                self.existing[entry.name] = info.st_size

    def _temp(self, name: str) -> tuple[int, str]:
        # Not tempfile.mkstemp: its files are private (0600), and these become the writer's
        # files; O_CREAT|O_EXCL with 0666 gets the usual umask-based permissions, and it never
        # follows a link planted at the name.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        while True:
            temp = str(self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
            try:
                fd = os.open(temp, flags, 0o666)
                break
            except FileExistsError:
                continue
        with self._lock:
            self.pending.append((temp, name))
        return fd, temp

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="storyterm-export")
        while len(self._in_flight) >= self.MAX_IN_FLIGHT:
            self._in_flight.popleft().result()  # a failed write stops the export right here
        self._in_flight.append(self._pool.submit(job, *args))

    def put_bytes(self, name: str, data: bytes) -> None:
        """Stage `name` with `data`, unless the file already holds exactly that."""
        if self.existing.get(name) == len(data) and _same_content(self.folder / name, data):
            self.unchanged += 1
            return
        self._submit(self._write, name, data)

    def _write(self, name: str, data: bytes) -> None:
        fd, _temp = self._temp(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[str]]:
        """A text file to stream into; it replaces `name` at commit unless the content is the
        same as what is there."""
        fd, temp = self._temp(name)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        if name in self.existing and _same_file(self.folder / name, temp):
            with self._lock:
                self.pending.remove((temp, name))
            os.unlink(temp)
            self.unchanged += 1

    def _drain(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def commit(self) -> None:
        self._drain()
        _flush(self.folder, [temp for temp, _name in self.pending])
        for temp, name in self.pending:
            os.replace(temp, self.folder / name)
            self.committed.append(name)
        self.pending = []
        fsync_dir(self.folder)

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._in_flight.clear()
        for temp, _name in self.pending:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self.pending = []


def _flush(folder: Path, temps: list[str]) -> None:
    """Put every staged file on disk: one syncfs() where the platform has it, else an fsync a
    file. An error (a full disk, a failing device) raises before anything is renamed."""
    if not temps:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs(fd):
            return
    finally:
        os.close(fd)
    for temp in temps:
        _fsync_path(temp)


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the filesystem holding `fd`: True when done, False where unavailable."""
    libc = _libc()
    if libc is None:
        return False
    if libc.syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return True


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs  # noqa: B018 (present since glibc 2.14 / musl)
    except (OSError, AttributeError):
        return None
    return libc


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_content(path: Path, data: bytes) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        with open(path, "rb") as existing:
            return existing.read() == data
    except OSError:
        return False


def _same_file(path: Path, temp: str) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != os.stat(temp).st_size:
            return False
        with open(path, "rb") as a, open(temp, "rb") as b:
            while True:
                chunk = a.read(1 << 20)
                if chunk != b.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return [e for e in entries if not e.is_dir(follow_symlinks=False)]


def fsync_dir(folder: Path) -> None:
    """Make the renames themselves durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
