"""Who may read storyterm's files: the writer alone.

A SQLite database holds every story, every password hash and the token signing secret, so the
data folder is made 0700 and every SQLite file (the database, its -wal, -shm and -journal files
and the migration lock) 0600, both when they are created and, tightened, when storyterm finds
them looser. SQLite gives the -wal and -shm files the database file's own mode.

Only storyterm's data folder (STORYTERM_DATA_DIR) is tightened when it exists; another folder
holding a database named by STORYTERM_DATABASE_URL is created 0700 but never changed (it may be
a home folder or a shared one). `storyterm doctor` reports what was tightened.

Standard library only: the Store calls it on every open.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
#: What SQLite and storyterm keep next to a database file.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
MIGRATE_LOCK_SUFFIX = ".migrate.lock"


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the files that sit beside it (whether or not they exist)."""
    return [
        database,
        *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS),
        database.with_suffix(MIGRATE_LOCK_SUFFIX),
    ]


def make_private_folder(path: Path) -> None:
    """Create `path` (and any missing parents) with the folder itself 0700; nothing is changed
    when it exists."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    os.chmod(path, FOLDER_MODE)  # mkdir's mode passes through the umask


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 when it does not exist (before SQLite creates it 0644)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_private(path: Path, mode: str = "w"):
    """open(path, mode), a new file being created 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if "w" in mode else os.O_APPEND)
    return os.fdopen(os.open(path, flags, FILE_MODE), mode)


def _loose(mode: int, wanted: int) -> bool:
    return bool(stat.S_IMODE(mode) & ~wanted & 0o777)


def tighten(path: Path, wanted: int) -> str | None:
    """Take group and other access away from `path` when it has any: a line saying what was
    changed, None when nothing needed to be. OSError (not the owner, a read-only disk) when it
    cannot be changed."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if not _loose(mode, wanted):
        return None
    new = stat.S_IMODE(mode) & wanted
    os.chmod(path, new)
    return f"{path} {stat.S_IMODE(mode):04o} -> {new:04o}"


def secure_sqlite_files(database: Path) -> list[str]:
    """Tighten the database file and the files beside it to 0600; what was changed. Files that
    cannot be changed are left (`check` reports them)."""
    changed = []
    for path in sqlite_files(database):
        try:
            line = tighten(path, FILE_MODE)
        except OSError:
            continue
        if line:
            changed.append(line)
    return changed


def secure_data_folder(data_dir: Path) -> list[str]:
    """Tighten storyterm's data folder to 0700 when it exists; what was changed."""
    try:
        line = tighten(data_dir.expanduser(), FOLDER_MODE)
    except OSError:
        return []
    return [line] if line else []


def problems(data_dir: Path, database: Path | None) -> list[str]:
    """What is still readable by others after tightening (files storyterm does not own), with
    the command that fixes each."""
    found = []
    folders = [data_dir.expanduser()]
    files = sqlite_files(database) if database is not None else []
    for path, wanted in [(f, FOLDER_MODE) for f in folders] + [(f, FILE_MODE) for f in files]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if _loose(mode, wanted):
            found.append(
                f"{path} is {stat.S_IMODE(mode):04o} and storyterm cannot change it "
                f"(run `chmod {wanted:o} {path}` as its owner)"
            )
    return found
