"""Listeners that wait with asyncio (the API's SSE endpoints) read the writers' streams through
one hub per process (core/events/hub.py): each still hears exactly its own events, whole and
in order, resumes from where it was, and falls back to the database when Redis goes away,
while Redis holds one waiting reader for all of them instead of one per listener."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from storyterm.core.events import Event, EventKind, Mode, Status, Subscriber
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.views import Session
from tests.helpers import make_user
from tests.services import RedisServer

pytestmark = pytest.mark.asyncio

Item = Event | Status


class Listening:
    """One listener's `stream()`, read all the time in a task of its own, as the API's SSE
    endpoint reads it."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.heard: list[Item] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for batch in self.subscriber.stream(timeout=0.1):
            self.heard += batch

    async def until(self, done: Callable[[list[Item]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.heard):
            if time.monotonic() > deadline or self._task.done():
                pytest.fail(f"not heard in {timeout}s; heard: {self.heard}")
            await asyncio.sleep(0.02)

    def events(self) -> list[Event]:
        return [i for i in self.heard if isinstance(i, Event)]

    async def close(self) -> None:
        self.subscriber.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def live(items: list[Item]) -> bool:
    return any(isinstance(i, Status) and i.mode is Mode.LIVE for i in items)


def status_is(mode: Mode) -> Callable[[list[Item]], bool]:
    return lambda items: any(isinstance(i, Status) and i.mode is mode for i in items)


def blocked_clients(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("clients")["blocked_clients"])
    finally:
        client.close()


async def one_reader_waits(url: str) -> None:
    """Redis holds one client waiting for the listeners: the hub's read (a connection per
    listener would hold one each)."""
    deadline = time.monotonic() + 5
    while blocked_clients(url) != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert blocked_clients(url) == 1


def told(listening: Listening) -> dict[str, str]:
    """The text each story's part was told to have, pieced together by the offsets."""
    said: dict[str, str] = {}
    for event in listening.events():
        if event.kind is EventKind.TEXT_ADDED:
            assert event.offset == len(said.get(event.session_id, ""))
            said[event.session_id] = said.get(event.session_id, "") + (event.text or "")
    return said


def tells(listening: Listening, texts: dict[str, str]) -> Callable[[list[Item]], bool]:
    return lambda _items: told(listening) == texts


def heard_version(listening: Listening, version: int) -> Callable[[list[Item]], bool]:
    """The database watch told of `version` (an event made up from the database)."""
    return lambda _items: any(e.synthetic and e.version == version for e in listening.events())


def write_parts(writing: SessionService, stories: dict[int, list[Session]]) -> dict[str, str]:
    """A part of each story, streamed a word at a time; the text of each."""
    texts: dict[str, str] = {}
    for writer, theirs in stories.items():
        for story in theirs:
            part = writing.begin_part(writer, story.id, direction="go", model_name="m")
            live = writing.live_text(writer, part)
            words = [f"{story.title} word{i} " for i in range(30)]
            for word in words:
                live.add(word)
            texts[story.id] = "".join(words)
    writing.store.events.publisher.flush()
    return texts


async def test_many_listeners_each_hear_their_own_through_one_waiting_reader(
    redis_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'stories.db'}"
    writing = SessionService(Store.open(url, redis_url))
    serving = Store.open(url, redis_url)  # the API's process
    listeners: list[Listening] = []
    try:
        writers = [make_user(writing.store, f"writer{i}") for i in range(3)]
        stories = {w: [writing.start(w, f"Story {w}.{n}") for n in range(2)] for w in writers}
        for w in writers:  # one listener for all of a writer's stories, one for each story
            listeners.append(Listening(serving.events.subscribe(w)))
            for story in stories[w]:
                listeners.append(Listening(serving.events.subscribe(w, story.id)))
        for listening in listeners:
            await listening.until(live)
        await asyncio.sleep(0.3)  # all nine wait for their next events
        await one_reader_waits(redis_url)

        texts = write_parts(writing, stories)

        n = 0
        for w in writers:
            mine = {s.id: texts[s.id] for s in stories[w]}
            whole, *one_each = listeners[n : n + 3]
            n += 3
            await whole.until(tells(whole, mine))
            assert {e.user_id for e in whole.events()} == {w}
            for listening, story in zip(one_each, stories[w], strict=True):
                want = {story.id: texts[story.id]}
                await listening.until(tells(listening, want))
                assert {e.session_id for e in listening.events()} == {story.id}
    finally:
        for listening in listeners:
            await listening.close()
        serving.close()
        writing.store.close()


async def test_a_listener_resuming_from_an_earlier_event_hears_what_it_missed_and_no_other_twice(
    redis_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'stories.db'}"
    writing = SessionService(Store.open(url, redis_url))
    serving = Store.open(url, redis_url)
    try:
        alice = make_user(writing.store)
        first = Listening(serving.events.subscribe(alice))
        await first.until(live)
        story = writing.start(alice, "One")
        writing.rename(alice, story.id, "Two")
        writing.rename(alice, story.id, "Three")
        await first.until(lambda _items: len(first.events()) == 3)
        since = first.events()[0].id  # the second listener last heard of the story's start
        second = Listening(serving.events.subscribe(alice, last_id=since))
        await second.until(lambda _items: len(second.events()) == 2)
        writing.rename(alice, story.id, "Four")
        await first.until(lambda _items: len(first.events()) == 4)
        await second.until(lambda _items: len(second.events()) == 3)
        await asyncio.sleep(0.3)  # anything heard twice would have come by now
        titles = ["One", "Two", "Three", "Four"]
        assert [e.title for e in first.events()] == titles
        assert [e.title for e in second.events()] == titles[1:]
        assert [e.id for e in second.events()] == [e.id for e in first.events()][1:]
        await first.close()
        await second.close()
    finally:
        serving.close()
        writing.store.close()


async def test_redis_gone_the_listeners_watch_the_database_and_come_back_live(
    own_redis: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Back to live events, the database is still looked at for a while (GRACE_SECONDS),
    # through each listener's own connection; the hub reads for them after it.
    monkeypatch.setattr("storyterm.core.events.subscriber.GRACE_SECONDS", 0.5)
    url = f"sqlite:///{tmp_path / 'stories.db'}"
    writing = SessionService(Store.open(url, own_redis.url))
    serving = Store.open(url, own_redis.url)
    serving.events.poll_seconds = 0.2
    try:
        alice = make_user(writing.store)
        story = writing.start(alice, "Salt Roads")
        listeners = [
            Listening(serving.events.subscribe(alice)),
            Listening(serving.events.subscribe(alice, story.id)),
        ]
        for listening in listeners:
            await listening.until(live)
        own_redis.stop()
        for listening in listeners:
            await listening.until(status_is(Mode.POLLING))
        writing.rename(alice, story.id, "Renamed while Redis was down")
        version = writing.get(alice, story.id).version
        for listening in listeners:
            await listening.until(heard_version(listening, version))
        own_redis.start()
        for listening in listeners:
            listening.heard = []
        for listening in listeners:
            await listening.until(live, timeout=10)
        await asyncio.sleep(1.0)  # past the grace period
        await one_reader_waits(own_redis.url)
        # Live again, through the hub: a rename is heard as it happens (the writer's
        # publisher may still rest after its failure, so rename until it is heard).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            writing.rename(alice, story.id, f"Back {time.monotonic()}")
            await asyncio.sleep(0.3)
            if all(
                any(e.kind is EventKind.SESSION_RENAMED and not e.synthetic for e in ln.events())
                for ln in listeners
            ):
                break
        else:
            pytest.fail("live events did not come back after Redis did")
        for listening in listeners:
            await listening.close()
    finally:
        serving.close()
        writing.store.close()
