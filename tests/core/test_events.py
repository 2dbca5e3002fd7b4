"""Live events (core/events) between two Stores on one database, as two processes would have
them, over the tests' real Redis and PostgreSQL: what one writes the other hears, after the
commit and only for its writer; without Redis the database is watched, and live events come
back when Redis does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from storyterm.core.events import Event, EventKind, Mode, Status, Subscriber
from storyterm.core.events.channel import FIELD
from storyterm.core.generation.events import Finished
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.errors import Conflict, NotFound
from tests.helpers import make_user
from tests.services import RedisServer
from tests.story_helpers import make_kit

Item = Event | Status


def hear(
    subscriber: Subscriber, until: Callable[[list[Item]], bool], timeout: float = 5.0
) -> list[Item]:
    """What `subscriber` says until `until(everything so far)` holds (or fail)."""
    heard: list[Item] = []
    deadline = time.monotonic() + timeout
    while not until(heard):
        if time.monotonic() > deadline:
            pytest.fail(f"not heard in {timeout}s; heard: {heard}")
        heard += subscriber.next(0.1)
    return heard


def events(items: list[Item]) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


def kinds(items: list[Item], session_id: str | None = None) -> list[EventKind]:
    return [e.kind for e in events(items) if session_id in (None, e.session_id)]


def has(kind: EventKind, **fields: object) -> Callable[[list[Item]], bool]:
    return lambda items: any(
        e.kind is kind and all(getattr(e, k) == v for k, v in fields.items()) for e in events(items)
    )


def status_is(mode: Mode) -> Callable[[list[Item]], bool]:
    return lambda items: any(isinstance(i, Status) and i.mode is mode for i in items)


@pytest.fixture
def two(database_url: str, redis_url: str) -> Iterator[tuple[SessionService, SessionService]]:
    """Two services on one database and one Redis, each with a Store of its own."""
    one = SessionService(Store.open(database_url, redis_url))
    other = SessionService(Store.open(database_url, redis_url))
    yield one, other
    one.store.close()
    other.store.close()


def test_two_stores_hear_each_others_sessions_and_parts(
    two: tuple[SessionService, SessionService],
) -> None:
    one, other = two
    alice = make_user(one.store)
    listening = other.store.events.subscribe(alice)
    try:
        assert listening.next() == [Status(mode=Mode.LIVE, reason="live events")]
        story = one.start(alice, "The Keeper's Letter")
        part = one.begin_part(alice, story.id, direction="the letter", model_name="m")
        one.checkpoint_part(alice, story.id, part.seq, "Rain on the glass.")
        one.checkpoint_part(alice, story.id, part.seq, "Rain on the glass.", state=PartState.DONE)
        one.rename(alice, story.id, "The Keeper's Last Letter")
        one.pause(alice, story.id)
        heard = hear(listening, has(EventKind.STATUS_CHANGED, status="paused"))
        assert kinds(heard) == [
            EventKind.SESSION_CREATED,
            EventKind.PART_BEGUN,
            EventKind.PART_SAVED,
            EventKind.PART_FINISHED,
            EventKind.SESSION_RENAMED,
            EventKind.STATUS_CHANGED,
        ]
        said = events(heard)
        # Each carries the session's version after its change: one step each, no gap.
        assert [e.version for e in said] == list(range(1, 7))
        assert said[1].seq == said[3].seq == 1
        assert said[4].title == "The Keeper's Last Letter"
        assert all(e.id and not e.synthetic and e.user_id == alice for e in said)
    finally:
        listening.close()


def test_an_event_is_sent_only_once_the_database_holds_the_change(
    two: tuple[SessionService, SessionService],
) -> None:
    one, other = two
    alice = make_user(one.store)
    seen_at_publish: list[tuple[EventKind, int | None, int | None]] = []
    publish = one.store.events.publish

    def check_then_publish(batch: list[Event]) -> None:
        # Another connection (the other Store) already reads what the event announces.
        for event in batch:
            found = other.get(alice, event.session_id).version
            seen_at_publish.append((event.kind, event.version, found))
        publish(batch)

    one.store.tx.on_commit = check_then_publish
    story = one.start(alice, "Salt Roads")
    one.begin_part(alice, story.id, direction="go", model_name="m")
    # A change that does not commit is never heard of: the second claim loses.
    with pytest.raises(Conflict):
        one.begin_part(alice, story.id, direction="again", model_name="m")
    assert seen_at_publish == [
        (EventKind.SESSION_CREATED, 1, 1),
        (EventKind.PART_BEGUN, 2, 2),
    ]


def test_a_writer_never_hears_another_writers_events(
    two: tuple[SessionService, SessionService], redis_url: str
) -> None:
    one, other = two
    alice, bob = make_user(one.store, "alice"), make_user(one.store, "bob")
    bobs = other.store.events.subscribe(bob)
    try:
        hear(bobs, status_is(Mode.LIVE))
        story = one.start(alice, "Alice's own")
        with pytest.raises(NotFound):  # another writer's story is not found, as a missing one
            other.store.events.subscribe(bob, story.id)
        # Copy one of Alice's events into Bob's stream, as someone with Redis access could:
        # its seal names Alice's stream, so Bob's listener drops it.
        assert one.store.events.publisher.flush()
        client = redis.Redis.from_url(redis_url)
        (_id, fields), *_ = client.xrange(one.store.events.channel.key(alice))
        client.xadd(other.store.events.channel.key(bob), {FIELD: fields[FIELD]})
        client.close()
        theirs = one.start(bob, "Bob's own")
        heard = hear(bobs, has(EventKind.SESSION_CREATED))
        assert [e.session_id for e in events(heard)] == [theirs.id]
        assert bobs.rejected == 1
    finally:
        bobs.close()


def test_streamed_text_is_coalesced_and_says_where_it_goes(redis_url: str, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'stories.db'}", redis_url)
    try:
        alice = make_user(store)
        sessions = SessionService(store)
        story = sessions.start(alice, "Fast")
        part = sessions.begin_part(alice, story.id, direction="go", model_name="m")
        listening = store.events.subscribe(alice, story.id)
        live = sessions.live_text(alice, part)
        words = [f"word{i} " for i in range(400)]
        started = time.monotonic()
        for word in words:  # a model far faster than anyone reads: 400 pieces in ~0.4 s
            live.add(word)
            time.sleep(0.001)
        spent = time.monotonic() - started
        whole = "".join(words)
        heard = hear(
            listening,
            lambda items: sum(len(e.text or "") for e in events(items)) >= len(whole),
        )
        texts = [e for e in events(heard) if e.kind is EventKind.TEXT_ADDED]
        # Pieced together by their offsets, the text is whole, in order, with nothing twice.
        assert "".join(e.text or "" for e in texts) == whole
        assert [e.offset for e in texts] == [
            sum(len(t.text or "") for t in texts[:i]) for i in range(len(texts))
        ]
        # At most 25 a second (and one more to start with), not one per piece.
        assert len(texts) <= 25 * spent + 2, (len(texts), spent)
        listening.close()
    finally:
        store.close()


def test_a_listener_resumes_after_the_last_event_it_heard(
    two: tuple[SessionService, SessionService],
) -> None:
    one, other = two
    alice = make_user(one.store)
    first = other.store.events.subscribe(alice)
    story = one.start(alice, "Resumed")
    heard = hear(first, has(EventKind.SESSION_CREATED))
    first.close()
    last_id = events(heard)[-1].id
    one.rename(alice, story.id, "Resumed later")  # while nobody listens
    assert one.store.events.publisher.flush()
    again = other.store.events.subscribe(alice, last_id=last_id)
    try:
        heard = hear(again, has(EventKind.SESSION_RENAMED))
        assert heard[0] == Status(mode=Mode.LIVE, reason="live events")
        assert kinds(heard) == [EventKind.SESSION_RENAMED]
    finally:
        again.close()
    # An id Redis never handed out (or no longer holds): read everything again.
    lost = other.store.events.subscribe(alice, last_id="99999999999999-0")
    try:
        (status,) = lost.next()
        assert isinstance(status, Status) and status.resync and status.mode is Mode.LIVE
    finally:
        lost.close()


def test_a_save_never_waits_for_a_redis_that_does_not_answer(tmp_path: Path) -> None:
    import socket

    silent = socket.socket()  # accepts connections and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    store = Store.open(f"sqlite:///{tmp_path / 'stories.db'}", url)
    try:
        sessions = SessionService(store)
        alice = make_user(store)
        started = time.monotonic()
        for n in range(20):
            sessions.start(alice, f"Story {n}")
        assert time.monotonic() - started < 1.0
    finally:
        store.close()
        silent.close()


@pytest.mark.asyncio
async def test_redis_stopped_mid_stream_the_database_is_watched_then_live_again(
    own_redis: RedisServer, tmp_path: Path, postgres_migrated_url: str
) -> None:
    """Two clients of one PostgreSQL database: a part streams from one, the other listens;
    Redis dies halfway, the part ends meanwhile and the listener still hears of it (from the
    database); Redis comes back and so do live events."""
    redis_url = own_redis.url
    with FakeOllama(models=["gemma3:latest"], tokens=60, rate=60) as fake:
        kit = make_kit(tmp_path, fake, database_url=postgres_migrated_url, redis_url=redis_url)
        other = Store.open(postgres_migrated_url, redis_url)
        other.events.poll_seconds = 0.2
        try:
            story = kit.new_session()
            listening = other.events.subscribe(kit.user_id, story.id)
            hear(listening, status_is(Mode.LIVE))
            run = asyncio.create_task(kit.run(story.id, "the letter"))
            heard: list[Item] = []
            while not any(e.kind is EventKind.TEXT_ADDED for e in events(heard)):
                heard += await asyncio.to_thread(listening.next, 0.1)
            own_redis.stop()
            finished = await asyncio.wait_for(run, 15)
            assert isinstance(finished[-1], Finished)  # no save waited for the dead Redis
            final = kit.sessions.get(kit.user_id, story.id)
            heard = await asyncio.to_thread(
                hear,
                listening,
                lambda items: (
                    status_is(Mode.POLLING)(items)
                    and any(e.synthetic and e.version == final.version for e in events(items))
                ),
            )
            # A change made while Redis is down is seen too.
            kit.sessions.pause(kit.user_id, story.id)
            paused = kit.sessions.get(kit.user_id, story.id).version
            await asyncio.to_thread(hear, listening, has(EventKind.SESSION_CHANGED, version=paused))

            own_redis.start()
            await asyncio.to_thread(hear, listening, status_is(Mode.LIVE))

            def renamed_live(items: list[Item]) -> bool:
                return any(
                    e.kind is EventKind.SESSION_RENAMED and not e.synthetic for e in events(items)
                )

            # The writer's publisher tries Redis again within seconds; until then a rename
            # goes unheard (harmless: the next version says so), so rename until one is heard.
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                kit.sessions.rename(kit.user_id, story.id, f"Back {time.monotonic()}")
                got = await asyncio.to_thread(listening.next, 0.5)
                if renamed_live(got):
                    break
            else:
                pytest.fail("live events did not come back after Redis did")
            listening.close()
        finally:
            other.close()
            kit.close()


@pytest.mark.asyncio
async def test_a_part_streamed_by_one_client_is_heard_whole_by_another(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    with FakeOllama(models=["gemma3:latest"], tokens=80, rate=400) as fake:
        kit = make_kit(tmp_path, fake, database_url=database_url, redis_url=redis_url)
        other = Store.open(database_url, redis_url)
        try:
            story = kit.new_session()
            listening = other.events.subscribe(kit.user_id, story.id)
            await kit.run(story.id, "the letter")
            heard = await asyncio.to_thread(hear, listening, has(EventKind.PART_FINISHED))
            listening.close()
            part = kit.sessions.get_part(kit.user_id, story.id, 1)
            texts = [e for e in events(heard) if e.kind is EventKind.TEXT_ADDED]
            assert texts[0].offset == 0 and len(texts) > 1
            assert "".join(e.text or "" for e in texts) == part.content
            # The text comes before the part's end, and the end carries the final version.
            assert kinds(heard).index(EventKind.PART_FINISHED) > kinds(heard).index(
                EventKind.TEXT_ADDED
            )
            finished = next(e for e in events(heard) if e.kind is EventKind.PART_FINISHED)
            assert finished.version is not None
            assert finished.version <= kit.sessions.get(kit.user_id, story.id).version
        finally:
            other.close()
            kit.close()


def test_without_redis_the_database_is_watched_and_says_so(database_url: str) -> None:
    one = SessionService(Store.open(database_url, None))
    other = Store.open(database_url, None)
    other.events.poll_seconds = 0.1
    try:
        alice = make_user(one.store)
        kept = one.start(alice, "Kept")
        listening = other.events.subscribe(alice)
        (status,) = listening.next()
        assert isinstance(status, Status) and status.mode is Mode.POLLING
        assert "no Redis" in status.reason
        new = one.start(alice, "New")
        one.rename(alice, kept.id, "Kept, renamed")
        heard = hear(listening, lambda items: len(events(items)) >= 2)
        assert {(e.kind, e.session_id, e.synthetic) for e in events(heard)} == {
            (EventKind.SESSION_CREATED, new.id, True),
            (EventKind.SESSION_CHANGED, kept.id, True),
        }
        one.delete(alice, new.id)
        hear(listening, has(EventKind.SESSION_DELETED, session_id=new.id))
        one.history.delete_forever(alice, new.id)
        hear(listening, has(EventKind.SESSION_REMOVED, session_id=new.id))
        listening.close()
    finally:
        one.store.close()
        other.close()


def test_a_save_stands_when_telling_of_it_fails(database_url: str) -> None:
    service = SessionService(Store.open(database_url, None))
    try:

        def broken(_events: list[Event]) -> None:
            raise RuntimeError("a bug in the publisher")

        service.store.tx.on_commit = broken
        alice = make_user(service.store)
        story = service.start(alice, "Saved anyway")
        assert service.get(alice, story.id).title == "Saved anyway"
    finally:
        service.store.close()


def test_a_change_made_as_redis_comes_back_is_heard(
    own_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer's publisher that failed while Redis was down rests a while before it tries
    again, dropping what it is given meanwhile; a listener already back to live events still
    hears of a change made then, from the database (subscriber.GRACE_SECONDS)."""
    # Rests long enough that the change below is surely made while it does.
    monkeypatch.setattr("storyterm.core.events.publisher.RETRY_AFTER_SECONDS", 4.0)
    url = f"sqlite:///{tmp_path / 'stories.db'}"
    one = SessionService(Store.open(url, own_redis.url))
    other = Store.open(url, own_redis.url)
    other.events.poll_seconds = 0.2
    try:
        alice = make_user(one.store)
        story = one.start(alice, "The Keeper's Letter")
        listening = other.events.subscribe(alice)
        hear(listening, status_is(Mode.LIVE))
        own_redis.stop()
        one.rename(alice, story.id, "Written while Redis was down")
        publisher = one.store.events.publisher
        deadline = time.monotonic() + 5
        while publisher.last_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        hear(listening, status_is(Mode.POLLING))
        own_redis.start()
        hear(listening, status_is(Mode.LIVE))
        assert publisher._resting()  # what the publisher is given now reaches no stream
        one.rename(alice, story.id, "Written as Redis came back")
        version = one.get(alice, story.id).version
        heard = hear(listening, lambda items: any(e.version == version for e in events(items)))
        assert next(e for e in events(heard) if e.version == version).synthetic
        listening.close()
    finally:
        other.close()
        one.store.close()
