"""Only the writer can read their stories: the data folder is 0700 and every SQLite file 0600,
new or found looser, and `storyterm doctor` says what it tightened."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from tests.helpers import login_as


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022), under which SQLite made the database -rw-r--r--."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_a_new_default_database_is_the_writers_alone(storyterm_home: Path) -> None:
    runtime = Runtime()
    try:
        account = login_as(runtime, "alice")
        runtime.sessions.start(account.id, "Private")
        data = storyterm_home / "data"
        database = data / "storyterm.db"
        assert runtime.settings.resolved_database_url == f"sqlite:///{database}"
        assert mode(data) == 0o700
        files = [database, data / "storyterm.db-wal", data / "storyterm.db-shm"]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        lock = data / "storyterm.migrate.lock"
        assert mode(lock) == 0o600
        # Nothing else storyterm put there is readable by others either.
        assert [p.name for p in data.iterdir() if mode(p) & 0o077] == []
    finally:
        runtime.close()


@pytest.mark.usefixtures("open_umask")
def test_loose_files_from_an_older_storyterm_are_tightened_on_open(storyterm_home: Path) -> None:
    runtime = Runtime()
    login_as(runtime, "alice")
    runtime.close()
    data = storyterm_home / "data"
    os.chmod(data, 0o755)
    loose = [p for p in data.iterdir() if p.is_file()]
    for path in loose:
        os.chmod(path, 0o644)
    runtime = Runtime()
    try:
        runtime.sessions  # noqa: B018 - opens the database
        assert mode(data) == 0o700
        assert {p.name: mode(p) for p in loose} == {p.name: 0o600 for p in loose}
    finally:
        runtime.close()


@pytest.mark.usefixtures("open_umask")
def test_a_database_elsewhere_gets_a_private_new_folder_but_an_existing_one_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    monkeypatch.setenv("STORYTERM_DATABASE_URL", f"sqlite:///{shared / 'new' / 'stories.db'}")
    runtime = Runtime(load_settings())
    try:
        login_as(runtime, "alice")
    finally:
        runtime.close()
    assert mode(shared / "new") == 0o700
    assert mode(shared / "new" / "stories.db") == 0o600
    monkeypatch.setenv("STORYTERM_DATABASE_URL", f"sqlite:///{shared / 'stories.db'}")
    runtime = Runtime(load_settings())
    try:
        login_as(runtime, "alice")
    finally:
        runtime.close()
    assert mode(shared) == 0o755  # not storyterm's folder: maybe a home or a shared one
    assert mode(shared / "stories.db") == 0o600


@pytest.mark.usefixtures("open_umask", "healthy_ollama")
def test_doctor_says_what_it_tightened(storyterm_home: Path) -> None:
    runtime = Runtime()
    login_as(runtime, "alice")
    runtime.close()
    data = storyterm_home / "data"
    os.chmod(data, 0o755)
    os.chmod(data / "storyterm.db", 0o644)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "permissions:" in x)
    assert line.startswith("OK   permissions: only you can read the data folder (0700)")
    assert f"{data} 0755 -> 0700" in line and f"{data / 'storyterm.db'} 0644 -> 0600" in line
    assert (mode(data), mode(data / "storyterm.db")) == (0o700, 0o600)
    again = CliRunner().invoke(cli, ["doctor"])
    line = next(x for x in again.stdout.splitlines() if "permissions:" in x)
    assert "tightened" not in line


def test_doctor_names_a_file_it_cannot_change(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime()
    login_as(runtime, "alice")
    runtime.close()
    database = storyterm_home / "data" / "storyterm.db"
    os.chmod(database, 0o644)
    monkeypatch.setattr("storyterm.core.storage.file_modes.os.chmod", _refuse)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if "permissions:" in x)
    assert line.startswith("FAIL permissions:")
    assert f"run `chmod 600 {database}` as its owner" in line


def _refuse(*_args: object) -> None:
    raise PermissionError(1, "Operation not permitted")


def test_two_processes_creating_the_database_at_once_leave_it_private(
    storyterm_home: Path, open_umask: None
) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            runtime = Runtime()
            runtime.sessions  # noqa: B018
            runtime.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert mode(storyterm_home / "data" / "storyterm.db") == 0o600
