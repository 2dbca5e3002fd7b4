"""The session service on SQLite and PostgreSQL: the rules a writer relies on."""

from __future__ import annotations

import pytest

from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> SessionService:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def test_a_story_keeps_every_part_in_order(service: SessionService) -> None:
    alice = make_user(service.store)
    session = service.start(alice, "The Keeper's Letter", {"genre": "mystery"}, "gemma3:latest")
    for n in range(1, 26):
        service.append_part(alice, session.id, direction=f"step {n}", content=f"Part {n} text.")
    opened = service.open(alice, session.id, tail=10)
    assert [p.seq for p in opened.parts] == list(range(16, 26))
    assert opened.has_more_before
    older = service.parts_before(alice, session.id, 16, limit=10)
    assert [p.seq for p in older] == list(range(6, 16))
    assert opened.session.part_count == 25
    assert opened.session.word_count == 25 * 3


def test_status_rules(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Salt Roads")
    with pytest.raises(InvalidTransition, match="“Salt Roads” is already active"):
        service.resume(alice, s.id)
    assert service.pause(alice, s.id).status is SessionStatus.PAUSED
    with pytest.raises(InvalidTransition, match="is already paused"):
        service.pause(alice, s.id)
    with pytest.raises(InvalidTransition, match="Resume it first"):
        service.append_part(alice, s.id, direction="", content="x")
    assert service.resume(alice, s.id).status is SessionStatus.ACTIVE
    done = service.complete(alice, s.id)
    assert done.status is SessionStatus.COMPLETED and done.completed_at is not None
    for move in (service.pause, service.resume, service.complete):
        with pytest.raises(InvalidTransition, match="read-only"):
            move(alice, s.id)


def test_another_writers_session_is_not_found(service: SessionService) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    s = service.start(alice, "Winter Orchard")
    for attempt in (
        lambda: service.get(bob, s.id),
        lambda: service.open(bob, s.id),
        lambda: service.pause(bob, s.id),
        lambda: service.delete(bob, s.id),
        lambda: service.append_part(bob, s.id, direction="", content="x"),
    ):
        with pytest.raises(NotFound) as caught:
            attempt()
        with pytest.raises(NotFound) as missing:
            service.get(bob, "00000000-0000-0000-0000-000000000000")
        assert str(caught.value).replace(s.id, "X") == str(missing.value).replace(
            "00000000-0000-0000-0000-000000000000", "X"
        )
    assert service.list(bob).items == []
    assert service.get(alice, s.id).title == "Winter Orchard"


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", "needs a title"),
        ("   ", "needs a title"),
        ("x" * 10_000, "10,000 characters"),
        ("bad\x1b[31mtitle", "control characters"),
        ("tab\there", "control characters"),
    ],
)
def test_bad_titles_are_refused_clearly(service: SessionService, title: str, message: str) -> None:
    alice = make_user(service.store)
    with pytest.raises(InvalidInput, match=message):
        service.start(alice, title)
    assert service.count(alice) == 0


def test_metadata_must_be_an_object(service: SessionService) -> None:
    alice = make_user(service.store)
    with pytest.raises(InvalidInput, match="must be an object"):
        service.start(alice, "Title", ["genre", "mystery"])
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidInput, match="must be a real number"):
            service.start(alice, "Title", {"chapters": bad})
    assert service.count(alice) == 0


def test_expected_seq_makes_the_second_writer_lose(service: SessionService) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Race")
    first = service.begin_part(alice, s.id, direction="a", model_name="m", expected_seq=1)
    assert first.state is PartState.STREAMING
    with pytest.raises(Conflict, match="first"):
        service.begin_part(alice, s.id, direction="b", model_name="m", expected_seq=1)
    assert service.get(alice, s.id).part_count == 1


def test_list_pages_filters_and_searches(service: SessionService) -> None:
    alice = make_user(service.store)
    ids = [service.start(alice, f"Story {n:03d}").id for n in range(30)]
    service.pause(alice, ids[3])
    seen: list[str] = []
    cursor = None
    while True:
        page = service.list(alice, limit=7, cursor=cursor)
        seen += [s.id for s in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 30
    assert seen[0] == ids[3]  # the pause made it the most recently changed
    assert [s.id for s in service.list(alice, status="paused").items] == [ids[3]]
    assert [s.title for s in service.list(alice, search="story 01").items] == [
        f"Story {n:03d}" for n in range(19, 9, -1)
    ]
    assert service.list(alice, search="100%").items == []
    with pytest.raises(InvalidInput, match="not a status"):
        service.list(alice, status="archived")
