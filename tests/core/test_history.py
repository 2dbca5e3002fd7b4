"""Takes, the trash and undo in the core, on SQLite and PostgreSQL (with Redis where it
matters): what a writer does, and that no word is lost by any of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from storyterm.core.basics import PartState, SessionStatus, TakeKind, utcnow
from storyterm.core.history import HistoryService
from storyterm.core.service import SessionService
from storyterm.core.storage.statements import sessions_t
from storyterm.core.storage.store import Store
from storyterm.errors import Conflict, InvalidTransition, NotFound
from tests.helpers import make_user


class Desk:
    """A writer's desk: the two services over one store, reopened at will (a restart)."""

    def __init__(self, database_url: str, redis_url: str | None = None) -> None:
        self.url, self.redis_url = database_url, redis_url
        self.open()
        self.alice = make_user(self.store)

    def open(self) -> None:
        self.store = Store.open(self.url, self.redis_url)
        self.sessions = SessionService(self.store)
        self.history = HistoryService(self.store)

    def restart(self) -> None:
        self.store.close()
        self.open()

    def story(self, *texts: str) -> str:
        s = self.sessions.start(self.alice, "The Lighthouse")
        for n, text in enumerate(texts, start=1):
            self.sessions.append_part(self.alice, s.id, direction=f"d{n}", content=text)
        return s.id

    def contents(self, sid: str) -> list[str]:
        return [p.content for p in self.sessions.all_parts(self.alice, sid)]


@pytest.fixture
def desk(database_url: str) -> Iterator[Desk]:
    d = Desk(database_url)
    yield d
    d.store.close()


def _regenerate(desk: Desk, sid: str, seq: int, text: str) -> None:
    """A regenerate as the storyteller does it: a new streaming take, then its text."""
    desk.history.history.takes.new_take(
        desk.alice, sid, seq, kind=TakeKind.GENERATED, content="", state=PartState.STREAMING
    )
    desk.sessions.checkpoint_part(desk.alice, sid, seq, text, state=PartState.DONE)


def test_a_regenerate_keeps_the_old_take_and_choosing_flips_what_the_story_is(desk: Desk) -> None:
    sid = desk.story("The keeper lit the lamp.", "A ship came in.")
    _regenerate(desk, sid, 2, "No ship came that night at all.")
    part = desk.sessions.open(desk.alice, sid).parts[-1]
    assert (part.content, part.take, part.takes) == ("No ship came that night at all.", 2, 2)
    assert desk.sessions.get(desk.alice, sid).word_count == 5 + 7

    takes = desk.history.takes(desk.alice, sid, 2)
    assert [(t.number, t.content, t.chosen) for t in takes] == [
        (1, "A ship came in.", False),
        (2, "No ship came that night at all.", True),
    ]
    chosen = desk.history.choose(desk.alice, sid, 2, 1)
    assert (chosen.content, chosen.take, chosen.takes) == ("A ship came in.", 1, 2)
    assert desk.contents(sid) == ["The keeper lit the lamp.", "A ship came in."]
    assert desk.sessions.get(desk.alice, sid).word_count == 5 + 4
    assert desk.history.flip(desk.alice, sid, 2, 1).take == 2


def test_an_edit_is_a_new_take_and_a_regenerate_after_it_keeps_the_edit(desk: Desk) -> None:
    sid = desk.story("The keeper lit the lamp.")
    edited = desk.history.edit(desk.alice, sid, 1, content="The keeper lit the old lamp.")
    assert (edited.take, edited.take_kind, edited.take_from) == (2, TakeKind.EDITED, 1)
    _regenerate(desk, sid, 1, "Night fell on the rock.")
    kinds = [(t.number, t.kind, t.content) for t in desk.history.takes(desk.alice, sid, 1)]
    assert kinds == [
        (1, TakeKind.GENERATED, "The keeper lit the lamp."),
        (2, TakeKind.EDITED, "The keeper lit the old lamp."),
        (3, TakeKind.GENERATED, "Night fell on the rock."),
    ]
    # An edit that changes nothing makes no take.
    assert desk.history.edit(desk.alice, sid, 1, content="Night fell on the rock.").takes == 3


def test_a_completed_story_is_read_only_until_reopened(desk: Desk) -> None:
    sid = desk.story("One.")
    desk.history.complete(desk.alice, sid)
    with pytest.raises(InvalidTransition, match="Reopen"):
        desk.history.edit(desk.alice, sid, 1, content="Two.")
    assert desk.history.reopen(desk.alice, sid).status is SessionStatus.ACTIVE
    assert desk.history.edit(desk.alice, sid, 1, content="Two.").content == "Two."


def test_a_deleted_story_waits_in_the_trash_and_comes_back_whole(desk: Desk) -> None:
    sid = desk.story("The keeper lit the lamp.", "A ship came in.")
    _regenerate(desk, sid, 2, "No ship.")
    desk.history.delete(desk.alice, sid)
    assert desk.sessions.count(desk.alice) == 0
    assert desk.sessions.list(desk.alice).items == []
    with pytest.raises(NotFound, match="trash"):
        desk.sessions.open(desk.alice, sid)
    [item] = desk.history.trash(desk.alice)
    assert (item.kind, item.session_id, item.title) == ("story", sid, "The Lighthouse")

    desk.history.restore(desk.alice, sid)
    assert desk.contents(sid) == ["The keeper lit the lamp.", "No ship."]
    assert len(desk.history.takes(desk.alice, sid, 2)) == 2
    assert desk.history.trash(desk.alice) == []

    desk.history.delete(desk.alice, sid)
    desk.history.delete_forever(desk.alice, sid)
    assert desk.history.trash(desk.alice) == []
    with pytest.raises(NotFound):
        desk.history.restore(desk.alice, sid)


def test_a_deleted_part_leaves_its_place_and_returns_to_it_with_its_takes(desk: Desk) -> None:
    sid = desk.story("One.", "Two two.", "Three three three.")
    _regenerate(desk, sid, 2, "Second take of two.")
    trash_id = desk.history.delete_part(desk.alice, sid, 2)
    assert desk.contents(sid) == ["One.", "Three three three."]
    session = desk.sessions.get(desk.alice, sid)
    assert (session.part_count, session.word_count) == (2, 1 + 3)
    [item] = desk.history.trash(desk.alice)
    assert (item.kind, item.seq, item.part_id) == ("part", 2, trash_id)
    assert "Second take" in item.preview

    part = desk.history.restore_part(desk.alice, trash_id)
    assert part.seq == 2
    assert desk.contents(sid) == ["One.", "Second take of two.", "Three three three."]
    assert [t.content for t in desk.history.takes(desk.alice, sid, 2)] == [
        "Two two.",
        "Second take of two.",
    ]
    assert desk.sessions.get(desk.alice, sid).word_count == 1 + 4 + 3


def test_undo_and_redo_survive_a_restart(desk: Desk) -> None:
    sid = desk.story("One.", "Two.")
    _regenerate(desk, sid, 2, "Second.")
    desk.history.choose(desk.alice, sid, 2, 1)
    desk.history.delete_part(desk.alice, sid, 1)
    desk.history.complete(desk.alice, sid)
    desk.restart()

    said = desk.history.undo(desk.alice, sid)
    assert "active" in said
    assert desk.sessions.get(desk.alice, sid).status is SessionStatus.ACTIVE
    desk.history.undo(desk.alice, sid)
    assert desk.contents(sid) == ["One.", "Two."]
    desk.history.undo(desk.alice, sid)
    assert desk.contents(sid) == ["One.", "Second."]
    desk.restart()
    desk.history.redo(desk.alice, sid)
    assert desk.contents(sid) == ["One.", "Two."]
    desk.history.redo(desk.alice, sid)
    assert desk.contents(sid) == ["Two."]
    assert len(desk.history.trash(desk.alice)) == 1
    # A new change ends the redo line.
    desk.history.undo(desk.alice, sid)
    desk.history.choose(desk.alice, sid, 2, 2)
    with pytest.raises(InvalidTransition, match="nothing to redo"):
        desk.history.redo(desk.alice, sid)


def test_undo_brings_a_deleted_story_back(desk: Desk) -> None:
    sid = desk.story("One.")
    desk.history.delete(desk.alice, sid)
    desk.history.undo(desk.alice, sid)
    assert desk.sessions.count(desk.alice) == 1
    with pytest.raises(InvalidTransition, match="nothing to undo"):
        desk.history.undo(desk.alice, sid)


def test_a_part_being_written_cannot_be_flipped_or_deleted(desk: Desk) -> None:
    sid = desk.story("One.")
    desk.sessions.begin_part(desk.alice, sid, direction="go", model_name="m")
    with pytest.raises(Conflict, match="being written"):
        desk.history.delete_part(desk.alice, sid, 2)
    with pytest.raises(Conflict, match="being written"):
        desk.history.delete(desk.alice, sid)


def test_another_writers_story_is_not_found(desk: Desk) -> None:
    sid = desk.story("One.")
    bob = make_user(desk.store, "bob")
    for call in (
        lambda: desk.history.takes(bob, sid, 1),
        lambda: desk.history.choose(bob, sid, 1, 1),
        lambda: desk.history.delete(bob, sid),
        lambda: desk.history.undo(bob, sid),
    ):
        with pytest.raises(NotFound):
            call()
    trash_id = desk.history.delete_part(desk.alice, sid, 1)
    with pytest.raises(NotFound):
        desk.history.restore_part(bob, trash_id)
    assert desk.history.trash(bob) == []


def test_the_trash_is_emptied_after_its_days(desk: Desk) -> None:
    old = desk.story("Old.")
    recent = desk.story("Recent.")
    desk.history.delete(desk.alice, old)
    desk.history.delete(desk.alice, recent)
    with desk.store.engine.begin() as conn:
        conn.execute(
            sa.update(sessions_t)
            .where(sessions_t.c.id == old)
            .values(deleted_at=utcnow() - timedelta(days=31))
        )
    desk.store.trash_days = 30
    assert [i.session_id for i in desk.history.trash(desk.alice)] == [recent]


def test_the_hot_copy_follows_the_chosen_take(database_url: str, redis_url: str) -> None:
    desk = Desk(database_url, redis_url)
    try:
        sid = desk.story("One.", "Two.")
        desk.sessions.open(desk.alice, sid)  # warm
        _regenerate(desk, sid, 2, "Second.")
        desk.history.choose(desk.alice, sid, 2, 1)
        opened = desk.sessions.open(desk.alice, sid)
        assert opened.from_cache
        assert [p.content for p in opened.parts] == ["One.", "Two."]
        assert (opened.parts[-1].take, opened.parts[-1].takes) == (1, 2)
    finally:
        desk.store.close()
