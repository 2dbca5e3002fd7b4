"""Export on a disk that says no: a read-only folder, a full disk, a file where a folder should
be. Each is reported in words a writer can act on, and nothing is left half-written: no
temporary files, and the files of an earlier export exactly as they were.

The tests run as root, where file permissions block nothing, so real failures come from the
kernel itself: a path through a regular file (ENOTDIR), and, where this machine allows mount
namespaces, a read-only bind mount (EROFS) and a tiny tmpfs (ENOSPC). Failures the kernel cannot
be made to produce at an exact moment (the disk filling between two files, a rename refused) are
injected at the system call.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core.export import TEMP_PREFIX, export_session, staging
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.errors import ExportError
from tests.helpers import make_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(sqlite_url: str) -> Iterator[SessionService]:
    store = Store.open(sqlite_url, None)
    yield SessionService(store)
    store.close()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in the folder with its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def story_with_an_earlier_export(service: SessionService, out: Path) -> tuple[int, str, Path]:
    alice = make_user(service.store)
    s = service.start(alice, "Salt Roads", {"genre": "adventure"})
    for n in range(1, 6):
        service.append_part(alice, s.id, direction=f"step {n}", content=f"Part {n}. " * 50)
    folder = export_session(service, alice, s.id, out_dir=out, formats="all").folder
    # The story moves on, so the next export has something new to write everywhere.
    for n in range(1, 6):
        service.edit_part(alice, s.id, n, content=f"Rewritten part {n}. " * 40)
    service.append_part(alice, s.id, direction="step 6", content="Part 6. " * 50)
    return alice, s.id, folder


# -- real failures -------------------------------------------------------------------------


def test_a_file_in_the_way_of_the_export_directory(service: SessionService, tmp_path: Path) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Blocked")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    with pytest.raises(ExportError) as caught:
        export_session(service, alice, s.id, out_dir=blocker / "exports")
    message = caught.value.message
    assert message.startswith(f"{blocker} is a file, not a folder, so the story cannot be")
    assert "Nothing there was changed" in message
    assert message.endswith("(export_dir in config.toml, or STORYTERM_EXPORT_DIR).")
    assert caught.value.another_folder  # the CLI adds its --out
    with pytest.raises(ExportError, match="is a file, not a folder"):
        export_session(service, alice, s.id, out_dir=blocker)
    assert blocker.read_text() == "a file"


def test_a_file_where_the_story_folder_goes(service: SessionService, tmp_path: Path) -> None:
    from storyterm.core.export import folder_name

    alice = make_user(service.store)
    s = service.start(alice, "Squatter")
    out = tmp_path / "out"
    out.mkdir()
    (out / folder_name(s)).write_text("mine")
    with pytest.raises(ExportError, match=r"is a file, not a folder.*Move that file away"):
        export_session(service, alice, s.id, out_dir=out)
    assert (out / folder_name(s)).read_text() == "mine"


@functools.cache
def mount_namespaces_unavailable() -> str | None:
    """Why this machine cannot give a test a private mount namespace (None: it can)."""
    if not shutil.which("unshare") or not shutil.which("mount"):
        return "unshare/mount are not installed"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"no private mount namespaces here ({probe.stderr.strip() or 'not root?'})"
    return None


def in_namespace(mounts: str, scenario: str, **args: object) -> dict[str, object]:
    """Run `scenario(**args)` from this module in a private mount namespace after `mounts`
    (shell commands) and return what it printed as JSON."""
    reason = mount_namespaces_unavailable()
    if reason:
        pytest.skip(f"a real {scenario} failure needs mount namespaces: {reason}")
    code = (
        "import json, sys; from tests.core.test_export_faults import "
        f"{scenario}; print(json.dumps({scenario}(**json.loads(sys.argv[1]))))"
    )
    command = f'{mounts} && exec "$0" -c "$1" "$2"'
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    unshare = ["unshare", "-m", "--propagation", "private", "sh", "-c", command]
    done = subprocess.run(
        [*unshare, sys.executable, code, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_expecting_failure(database_url: str, user_id: int, session_id: str, out: str) -> dict:
    store = Store.open(database_url, None)
    try:
        export_session(SessionService(store), user_id, session_id, out_dir=out, formats="all")
    except ExportError as exc:
        return {"error": exc.message}
    finally:
        store.close()
    return {"error": None}


def test_a_read_only_export_directory_for_real(
    service: SessionService, sqlite_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    alice, session_id, folder = story_with_an_earlier_export(service, out)
    before = snapshot(folder)
    result = in_namespace(
        f"mount --bind {out} {out} && mount -o remount,bind,ro {out}",
        "export_expecting_failure",
        database_url=sqlite_url,
        user_id=alice,
        session_id=session_id,
        out=str(out),
    )
    message = str(result["error"])
    assert "read-only disk" in message and str(folder) in message
    assert "Nothing there was changed" in message and "Choose another export folder" in message
    assert snapshot(folder) == before
    assert temp_files(folder) == []


def fill_the_disk(database_url: str, user_id: int, session_id: str, out: str) -> dict:
    """On a 256 KiB tmpfs: an export that fits, then one that cannot."""
    store = Store.open(database_url, None)
    service = SessionService(store)
    try:
        folder = export_session(service, user_id, session_id, out_dir=out, formats="all").folder
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        for n in range(40):
            service.append_part(user_id, session_id, direction="", content=f"word{n} " * 2000)
        try:
            export_session(service, user_id, session_id, out_dir=out, formats="all")
        except ExportError as exc:
            error = exc.message
        else:
            error = None
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
        return {
            "error": error,
            "folder": str(folder),
            "unchanged": after == before,
            "temps": temp_files(folder),
        }
    finally:
        store.close()


def test_a_full_disk_for_real(service: SessionService, sqlite_url: str, tmp_path: Path) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Deep Water")
    for n in range(1, 4):
        service.append_part(alice, s.id, direction="", content=f"Part {n}.")
    out = tmp_path / "small-disk"
    out.mkdir()
    result = in_namespace(
        f"mount -t tmpfs -o size=256k tmpfs {out}",
        "fill_the_disk",
        database_url=sqlite_url,
        user_id=alice,
        session_id=s.id,
        out=str(out),
    )
    message = str(result["error"])
    assert message.startswith("The disk is full") and str(result["folder"]) in message
    assert "Free some space" in message and "Nothing there was changed" in message
    assert result["unchanged"] is True
    assert result["temps"] == []


# -- injected failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "The disk is full"),
        (errno.EROFS, "is on a read-only disk"),
        (errno.EACCES, "may not write to"),
        (errno.EIO, "could not be exported"),
    ],
)
def test_a_failure_between_two_files_changes_nothing(
    service: SessionService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    out = tmp_path / "out"
    alice, session_id, folder = story_with_an_earlier_export(service, out)
    before = snapshot(folder)
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 4:  # a few part files in: the disk fills up
            raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(ExportError) as caught:
        export_session(service, alice, session_id, out_dir=out, formats="all")
    monkeypatch.undo()
    assert words in caught.value.message and str(folder) in caught.value.message
    assert "Nothing there was changed" in caught.value.message
    assert snapshot(folder) == before
    assert temp_files(folder) == []
    # Once the disk has room again, the same export goes through.
    result = export_session(service, alice, session_id, out_dir=out, formats="all")
    assert result.part_count == 6 and temp_files(folder) == []


def test_a_failure_while_renaming_leaves_whole_files(
    service: SessionService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    alice, session_id, folder = story_with_an_earlier_export(service, out)
    before = snapshot(folder)
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src: str, dst: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(ExportError) as caught:
        export_session(service, alice, session_id, out_dir=out, formats="all")
    monkeypatch.undo()
    assert "read-only" in caught.value.message
    assert "either the earlier or the new version" in caught.value.message
    assert temp_files(folder) == []
    after = snapshot(folder)
    # Two files were replaced whole; every other one is the earlier export, byte for byte.
    changed = [name for name in before if after[name] != before[name]]
    assert len(changed) == 2
    assert set(after) == set(before)


def test_a_failure_while_flushing_to_disk_changes_nothing(
    service: SessionService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flush before the renames fails (a full disk found at writeback): nothing replaced."""
    out = tmp_path / "out"
    alice, session_id, folder = story_with_an_earlier_export(service, out)
    before = snapshot(folder)

    def full_disk(fd: int) -> bool:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(staging, "_syncfs", full_disk)
    monkeypatch.setattr(staging, "_fsync_path", full_disk)
    with pytest.raises(ExportError, match="The disk is full"):
        export_session(service, alice, session_id, out_dir=out, formats=["json", "md"])
    monkeypatch.undo()
    assert snapshot(folder) == before
    assert temp_files(folder) == []
