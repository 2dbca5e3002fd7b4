"""Edges of the store a writer would trip over: time zones, list paging, counts, odd ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storyterm.core import views as views_module
from storyterm.core.service import SessionService
from storyterm.core.storage import store as store_module
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus, utcnow
from storyterm.errors import AuthError, InvalidInput, InvalidTransition, NotFound, StorytermError
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def test_timestamps_are_utc_whatever_the_postgres_time_zone(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server (or database) set to a far-off zone must not shift times or make a part that was
    checkpointed a moment ago look hours old."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        name = postgres_url.rsplit("/", 1)[1]
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Pacific/Kiritimati'")
    store = Store.open(postgres_url, None)
    service = SessionService(store)
    try:
        alice = make_user(store)
        before = utcnow()
        s = service.start(alice, "Far east")
        assert s.created_at.tzinfo is not None
        stored = service.get(alice, s.id)
        assert stored.created_at == s.created_at
        assert stored.created_at.utcoffset() == timedelta(0)
        assert abs(stored.created_at - before) < timedelta(seconds=5)
        monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(seconds=5))
        part = service.begin_part(alice, s.id, direction="go", model_name="m")
        service.checkpoint_part(alice, s.id, part.seq, "Fresh words")
        assert service.open(alice, s.id).parts[-1].state is PartState.STREAMING
    finally:
        store.close()


def test_paging_with_equal_timestamps_sees_every_session_once(
    service: SessionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_user(service.store)
    frozen = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(store_module, "utcnow", lambda: frozen)
    ids = {service.start(alice, f"Twin {n}").id for n in range(11)}
    monkeypatch.setattr(store_module, "utcnow", lambda: frozen + timedelta(microseconds=1))
    newest = service.start(alice, "One microsecond later").id
    monkeypatch.undo()

    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(alice, limit=3, cursor=cursor)
        seen += [s.id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen[0] == newest
    assert len(seen) == len(set(seen)) == 12
    assert set(seen[1:]) == ids
    assert seen[1:] == sorted(ids, reverse=True)  # ties broken by id, newest-first order kept


def test_a_garbage_cursor_is_a_clear_error(service: SessionService) -> None:
    alice = make_user(service.store)
    for cursor in ("not-a-cursor", "!!!", "MjAyNg", "bm90IGEgZGF0ZXxpZA"):
        with pytest.raises(InvalidInput, match="cursor is not valid"):
            service.list(alice, cursor=cursor)


def test_word_and_part_counts_stay_consistent(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Counting")
    service.append_part(alice, s.id, direction="", content="one two three")
    service.append_part(alice, s.id, direction="", content="four five")
    service.edit_part(alice, s.id, 1, content="one two three four five six")
    part = service.begin_part(alice, s.id, direction="", model_name="m")
    service.checkpoint_part(alice, s.id, part.seq, "a b c d")
    after_remove = service.remove_last_part(alice, s.id, part.seq)
    assert (after_remove.part_count, after_remove.word_count) == (2, 8)
    parts = service.all_parts(alice, s.id)
    assert sum(p.word_count for p in parts) == 8
    assert [p.seq for p in parts] == [1, 2]
    # The next part takes seq 3 again, not 4: seqs have no gaps.
    assert service.append_part(alice, s.id, direction="", content="x").seq == 3


def test_memory_changes_from_two_places_are_both_kept(service: SessionService) -> None:
    # A generation's notes and the writer's lorebook choice land in one memory.
    alice = make_user(service.store)
    s = service.start(alice, "Remembering")
    service.merge_memory(alice, s.id, {"lore_wanted": ["Mara"], "num_ctx": 4096})
    merged = service.merge_memory(alice, s.id, {"num_ctx": 8192, "last_estimate": 900})
    assert merged.memory == {"lore_wanted": ["Mara"], "num_ctx": 8192, "last_estimate": 900}
    assert service.get(alice, s.id).memory == merged.memory
    assert merged.version == s.version + 2
    # A completed story's memory stays as it is: a generation's last notes are dropped
    # (best effort), anything else is told why.
    service.complete(alice, s.id)
    kept = service.merge_memory(alice, s.id, {"last_estimate": 1}, best_effort=True)
    assert kept.memory == merged.memory and kept.status is SessionStatus.COMPLETED
    with pytest.raises(InvalidTransition, match="completed"):
        service.merge_memory(alice, s.id, {"last_estimate": 1})


def test_a_parts_end_and_its_memory_notes_land_together(service: SessionService) -> None:
    # A generation's last save carries what it learnt (the window's calibration): merged into
    # the memory as it is then, so a change made elsewhere meanwhile is kept.
    alice = make_user(service.store)
    s = service.start(alice, "Calibrated")
    part = service.begin_part(alice, s.id, direction="", model_name="m")
    service.merge_memory(alice, s.id, {"lore_wanted": ["Mara"], "last_eval_count": None})
    saved, session = service.checkpoint_part(
        alice, s.id, part.seq, "The end.", state=PartState.DONE, memory={"last_eval_count": 812}
    )
    assert saved.content == "The end." and saved.state is PartState.DONE
    assert session.memory == {"lore_wanted": ["Mara"], "last_eval_count": 812}
    assert service.get(alice, s.id).memory == session.memory
    # A story completed while its part was being written: the part's text is saved, the
    # memory of a completed story stays as it was.
    part = service.begin_part(alice, s.id, direction="", model_name="m")
    service.complete(alice, s.id)
    saved, session = service.checkpoint_part(
        alice, s.id, part.seq, "Kept.", state=PartState.DONE, memory={"last_eval_count": 1}
    )
    assert service.get_part(alice, s.id, part.seq).content == "Kept."
    assert session.memory == {"lore_wanted": ["Mara"], "last_eval_count": 812}


def test_earlier_parts_of_a_story_in_the_trash_or_without_parts(service: SessionService) -> None:
    # Scrolling up (and a prompt's parts) checks the story is the writer's in the same read.
    alice = make_user(service.store)
    empty = service.start(alice, "Nothing yet")
    assert service.parts_before(alice, empty.id, 10) == []
    s = service.start(alice, "Binned")
    for n in range(3):
        service.append_part(alice, s.id, direction="", content=f"part {n + 1}")
    assert [p.content for p in service.parts_before(alice, s.id, 4, limit=2)] == [
        "part 2",
        "part 3",
    ]
    service.delete(alice, s.id)
    with pytest.raises(NotFound):
        service.parts_before(alice, s.id, 4)
    service.history.restore(alice, s.id)
    assert len(service.parts_before(alice, s.id, 4)) == 3


def test_a_session_for_a_user_this_database_does_not_know(service: SessionService) -> None:
    """A token or id from another database must not surface as a raw IntegrityError."""
    with pytest.raises(AuthError, match="Log in again"):
        service.start(4242, "Orphan")
    assert service.count(4242) == 0


def test_unknown_ids_are_not_found(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Real")
    for bad in ("", "x", "00000000-0000-0000-0000-000000000000", "' OR 1=1 --", s.id + "x"):
        with pytest.raises(NotFound) as caught:
            service.open(alice, bad)
        assert caught.value.message == f"No story session {bad!r} here."
    with pytest.raises(NotFound, match="no part 7"):
        service.edit_part(alice, s.id, 7, content="nothing there")


def test_every_error_is_a_storyterm_error_with_a_message(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Rules")
    service.complete(alice, s.id)
    attempts = [
        lambda: service.append_part(alice, s.id, direction="", content="late"),
        lambda: service.edit_part(alice, s.id, 1, content="x"),
        lambda: service.rename(alice, s.id, "New name"),
        lambda: service.update_metadata(alice, s.id, {"tone": "light"}),
        lambda: service.start(alice, "ok", {"genre": {"nested": "object"}}),
        lambda: service.start(alice, "ok", "not an object"),
        lambda: service.list(alice, limit=0),
    ]
    for attempt in attempts:
        with pytest.raises(StorytermError) as caught:
            attempt()
        assert len(caught.value.message) > 20


def test_a_sqlite_file_locked_by_another_program_says_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from storyterm.core.storage import database
    from storyterm.errors import DatabaseUnavailable

    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    alice = make_user(store)
    s = service.start(alice, "Locked out")
    store.close()
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        with pytest.raises(DatabaseUnavailable, match="busy: another program"):
            service.append_part(alice, s.id, direction="", content="waiting")
        other.execute("ROLLBACK")
        assert service.append_part(alice, s.id, direction="", content="now").seq == 1
    finally:
        other.close()
        store.close()


def test_title_search_ignores_case(service: SessionService) -> None:
    alice = make_user(service.store)
    service.start(alice, "The Keeper's Letter")
    service.start(alice, "keeper of bees")
    service.start(alice, "50% of a story_draft")
    assert service.count(alice, search="KEEPER") == 2
    assert [s.title for s in service.list(alice, search="50%").items] == ["50% of a story_draft"]
    assert service.count(alice, search="y_d") == 1  # _ and % are literal, not wildcards
    assert service.count(alice, search="5_%") == 0


def test_title_search_ignores_case_beyond_ascii_on_sqlite(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    try:
        alice = make_user(store)
        service.start(alice, "Émile's Garden")
        service.start(alice, "ΩMEGA STATION")
        assert [s.title for s in service.list(alice, search="émile").items] == ["Émile's Garden"]
        assert service.count(alice, search="ÉMILE") == 1
        assert [s.title for s in service.list(alice, search="ωmega").items] == ["ΩMEGA STATION"]
        # An ASCII search takes SQLite's own LIKE (no Python call per title): same answers.
        assert [s.title for s in service.list(alice, search="GARDEN").items] == ["Émile's Garden"]
        assert service.count(alice, search="mega station") == 1
    finally:
        store.close()


def test_a_sqlite_url_with_a_tilde_opens_in_the_home_folder(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path / "writer"))
    monkeypatch.chdir(tmp_path)
    store = Store.open("sqlite:///~/notes/stories.db", None)
    try:
        alice = make_user(store)
        SessionService(store).start(alice, "At home")
    finally:
        store.close()
    assert (tmp_path / "writer" / "notes" / "stories.db").is_file()
    assert not (tmp_path / "~").exists()


def test_saving_goes_on_after_postgres_ends_the_connections(
    postgres_migrated_url: str, postgres_admin_url: str
) -> None:
    """A server restart (or an admin ending idle sessions) closes the pooled connections; the
    next save must open a fresh one, not fail with 'database unavailable'."""
    store = Store.open(postgres_migrated_url, None)
    service = SessionService(store)
    try:
        alice = make_user(store)
        s = service.start(alice, "Night shift")
        service.append_part(alice, s.id, direction="Begin.", content="The lamps went out.")
        part = service.begin_part(alice, s.id, direction="Go on.", model_name="m")
        name = postgres_migrated_url.rsplit("/", 1)[1]
        for _round in range(2):  # a checkpoint and an append each find their connection gone
            with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
            assert ended is not None and ended[0] >= 1
            service.checkpoint_part(alice, s.id, part.seq, "Someone struck a match.")
        service.checkpoint_part(
            alice, s.id, part.seq, "Someone struck a match.", state=PartState.DONE
        )
        opened = service.open(alice, s.id)
        assert [p.content for p in opened.parts] == [
            "The lamps went out.",
            "Someone struck a match.",
        ]
        assert opened.session.word_count == 8
    finally:
        store.close()
