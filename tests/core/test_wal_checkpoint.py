"""SQLite's WAL checkpoints run on a thread of their own, never inside a writer's commit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from storyterm.core.storage import database
from storyterm.core.storage.database import WAL_BACKSTOP_PAGES, make_engine, wal_checkpointer


def _threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "storyterm-wal-checkpoint"]


def _wait(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_commits_are_checkpointed_off_the_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    checkpointer = wal_checkpointer(engine)
    assert checkpointer is not None
    with engine.connect() as conn:
        # SQLite's own checkpoint stays only as a backstop, far above its default of 1,000.
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_BACKSTOP_PAGES
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
    for _ in range(5):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES ('%s')" % ("y" * 5000))
    # Writing paused: the thread checkpoints within CHECKPOINT_WHEN_QUIET_S.
    assert _wait(lambda: checkpointer.checkpoints >= 1)
    assert len(_threads()) >= 1
    engine.dispose()
    assert _wait(lambda: not any(t.is_alive() for t in _threads()))
    # The data is all there, from a fresh connection.
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 5
    engine.dispose()


def test_a_writer_that_never_pauses_is_checkpointed_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_AT_MOST_COMMITS", 20)
    monkeypatch.setattr(database, "CHECKPOINT_WHEN_QUIET_S", 60.0)
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    checkpointer = wal_checkpointer(engine)
    assert checkpointer is not None
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
    for _ in range(25):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES ('z')")
    assert _wait(lambda: checkpointer.checkpoints >= 1)
    engine.dispose()


def test_no_thread_for_an_in_memory_database_and_none_left_behind(tmp_path: Path) -> None:
    memory = make_engine("sqlite://")
    assert wal_checkpointer(memory) is None
    memory.dispose()
    for n in range(5):
        engine = make_engine(f"sqlite:///{tmp_path / f'{n}.db'}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        engine.dispose()
    assert _wait(lambda: not any(t.is_alive() for t in _threads()))
