"""The start-up reader (core/first_look.py) answers exactly as the Store does, or not at
all.

The TUI's first frame is read with sqlite3 alone; these tests put the same questions to it and to
the Store on one database and require the same answers: the login, the first page of every
filter and search, its count, the newest story's tail. Where it cannot be exact (a database to
migrate, a part left streaming by a crash, PostgreSQL) it must step aside.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from storyterm.core import views as views_module
from storyterm.core.basics import PartState, SessionStatus, utcnow
from storyterm.core.first_look import FirstLook, sqlite_file
from storyterm.core.runtime import Runtime
from storyterm.errors import InvalidInput, InvalidToken
from storyterm.settings import load_settings
from tests.helpers import login_as, password_for

TITLES = [
    "Émile's Garden",
    "The Lighthouse Keeper",
    "100% Rain_Water",
    "émile returns",
    "Salt",
    "Back\\slash",
    "北の灯台",
]
SEARCHES = [None, "émile", "ÉMILE", "EM", "100%", "_", "n_w", "\\", "灯台", "nothing like it"]


@pytest.fixture
def runtime(sqlite_url: str) -> Runtime:
    runtime = Runtime(load_settings(database_url=sqlite_url, redis_url=""))
    yield runtime
    runtime.close()


def _library(runtime: Runtime) -> int:
    """A writer with sessions in every status, parts (more than a page of them in one), JSON
    metadata and memory; and a second writer whose sessions must never show."""
    alice = login_as(runtime, "alice").id
    bob = login_as(runtime, "bob").id
    sessions = runtime.sessions
    sessions.start(bob, "Émile's other garden")
    for n, title in enumerate(TITLES * 3):
        session = sessions.start(
            alice, f"{title} {n}", metadata={"genre": "sea", "premise": f"number {n}"}
        )
        for seq in range(1, (n % 4) * 3):
            sessions.append_part(
                alice, session.id, direction=f"direction {seq}", content=f"Part {seq} of {n}."
            )
        if n % 3 == 1:
            sessions.pause(alice, session.id)
        elif n % 5 == 2:
            sessions.complete(alice, session.id)
    newest = sessions.start(alice, "The long one", metadata={"genre": "saga"})
    for seq in range(1, 46):
        sessions.append_part(
            alice, newest.id, direction=f"go on {seq}", content=f"Chapter {seq}.\n\nMore words."
        )
    sessions.update_memory(alice, newest.id, {"summary": "Mara found the letter."})
    return alice


def _look(runtime: Runtime) -> FirstLook:
    look = FirstLook.open(runtime.settings.resolved_database_url, None)
    assert look is not None
    return look


@pytest.mark.parametrize("limit", [3, 50])
def test_every_first_screen_equals_the_stores(runtime: Runtime, limit: int) -> None:
    alice = _library(runtime)
    look = _look(runtime)
    sessions = runtime.sessions
    try:
        for status in (None, *SessionStatus):
            for search in SEARCHES:
                first = look.first_screen(alice, status=status, search=search, limit=limit, tail=20)
                assert first is not None
                page = sessions.list(alice, status=status, search=search, limit=limit)
                assert first.page == page, (status, search)
                assert first.total == sessions.count(alice, status=status, search=search)
                if page.items:
                    assert first.opened == sessions.open(alice, page.items[0].id, tail=20)
                else:
                    assert first.opened is None
    finally:
        look.close()


def test_the_newest_story_opens_with_its_tail(runtime: Runtime) -> None:
    alice = _library(runtime)
    look = _look(runtime)
    try:
        first = look.first_screen(alice, status=None, search=None, limit=5, tail=20)
    finally:
        look.close()
    assert first is not None and first.opened is not None
    assert len(first.page.items) == 5
    assert first.total == len(TITLES) * 3 + 1
    assert first.page.next_cursor is not None  # and the Store takes it from there
    rest = runtime.sessions.list(first.page.items[0].user_id, cursor=first.page.next_cursor)
    assert {s.id for s in rest.items}.isdisjoint(s.id for s in first.page.items)
    opened = first.opened
    assert opened.session.title == "The long one"
    assert [p.seq for p in opened.parts] == list(range(26, 46))
    assert opened.has_more_before
    assert opened.session.memory == {"summary": "Mara found the letter."}
    assert opened.session.updated_at.utcoffset() == timedelta(0)


def test_logins_are_checked_as_the_identity_service_checks_them(runtime: Runtime) -> None:
    account = login_as(runtime, "alice")
    token = runtime.tokens.load()
    assert token
    look = _look(runtime)
    try:
        assert look.verify(token, utcnow()) == runtime.identity.verify(token)
        with pytest.raises(InvalidToken, match="expired"):
            look.verify(token, utcnow() + timedelta(days=365))
        with pytest.raises(InvalidToken, match="not a storyterm login token"):
            look.verify("garbage", utcnow())
        runtime.identity.change_password(account.id, password_for("alice"), "a-new-long-secret")
        with pytest.raises(InvalidToken, match="password of this account was changed") as seen:
            look.verify(token, utcnow())
        with pytest.raises(InvalidToken) as expected:
            runtime.identity.verify(token)
        assert seen.value.message == expected.value.message
        _account, fresh = runtime.identity.login("alice", "a-new-long-secret")
        assert look.verify(fresh, utcnow()).id == account.id
        runtime.identity.logout(fresh)
        with pytest.raises(InvalidToken, match="ended by `storyterm logout`"):
            look.verify(fresh, utcnow())
    finally:
        look.close()


def test_a_token_of_another_database_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    login_as(runtime, "alice")
    other = Runtime(load_settings(database_url=f"sqlite:///{tmp_path / 'other.db'}"))
    try:
        login_as(other, "alice")
        foreign = other.tokens.load()
    finally:
        other.close()
    look = _look(runtime)
    try:
        with pytest.raises(InvalidToken, match="another storyterm database"):
            look.verify(foreign, utcnow())
    finally:
        look.close()


def test_a_part_left_streaming_by_a_crash_is_left_to_the_store(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = login_as(runtime, "alice").id
    story = runtime.sessions.start(alice, "Cut short")
    part = runtime.sessions.begin_part(alice, story.id, direction="go", model_name="m")
    runtime.sessions.checkpoint_part(alice, story.id, part.seq, "The first words")
    look = _look(runtime)
    try:
        first = look.first_screen(alice, status=None, search=None, limit=50, tail=20)
        assert first is not None  # a live generation (fresh checkpoint) shows as it is
        assert first.opened is not None
        assert first.opened.parts[-1].state is PartState.STREAMING
        monkeypatch.setattr(views_module, "STREAM_STALE_AFTER", timedelta(0))
        # Marking it interrupted is a write: the first look steps aside...
        assert look.first_screen(alice, status=None, search=None, limit=50, tail=20) is None
    finally:
        look.close()
    # ...and the Store shows it interrupted, its text kept.
    opened = runtime.sessions.open(alice, story.id)
    assert opened.parts[-1].state is PartState.INTERRUPTED
    assert opened.parts[-1].content == "The first words"


def test_it_steps_aside_where_only_the_store_will_do(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "stories.db"
    assert FirstLook.open(f"sqlite:///{missing}", None) is None
    assert not missing.exists()  # a new database is the Store's to create and migrate
    assert FirstLook.open("postgresql+psycopg://someone@localhost/stories", None) is None
    assert FirstLook.open("sqlite://", None) is None
    assert FirstLook.open(f"sqlite:///{tmp_path / 'x.db'}?mode=ro", None) is None

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a file, but no schema yet
    assert FirstLook.open(f"sqlite:///{empty}", None) is None

    behind = Runtime(load_settings(database_url=f"sqlite:///{tmp_path / 'behind.db'}"))
    behind.store  # noqa: B018 - creates and migrates it
    behind.close()
    with sqlite3.connect(tmp_path / "behind.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'an_older_one'")
    assert FirstLook.open(f"sqlite:///{tmp_path / 'behind.db'}", None) is None

    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("Dear diary")
    assert FirstLook.open(f"sqlite:///{not_sqlite}", None) is None


def test_a_short_configured_secret_is_the_same_clear_error(runtime: Runtime) -> None:
    login_as(runtime, "alice")
    with pytest.raises(InvalidInput, match="STORYTERM_JWT_SECRET is 5 bytes long"):
        FirstLook.open(runtime.settings.resolved_database_url, "short")


def test_sqlite_file_reads_only_plain_file_urls() -> None:
    assert sqlite_file("sqlite:////home/mara/stories.db") == Path("/home/mara/stories.db")
    assert sqlite_file("sqlite:///~/stories.db") == Path("~/stories.db").expanduser()
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:///a%20b.db") is None
    assert sqlite_file("postgresql://x/y") is None
