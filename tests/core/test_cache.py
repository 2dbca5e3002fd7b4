"""Dual storage with a real Redis: current entries are served, stale ones never are, and Redis
dying, coming back empty, holding stale data or being garbage never loses or blocks a word."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from storyterm.core.service import SessionService
from storyterm.core.storage import cache as cache_module
from storyterm.core.storage.cache import TAIL_PARTS, CacheState
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus
from tests.helpers import make_user
from tests.services import RedisServer, free_port


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def service(sqlite_url: str, redis_url: str) -> Iterator[SessionService]:
    store = Store.open(sqlite_url, redis_url)
    yield SessionService(store)
    store.close()


def db_only(url: str) -> Store:
    """A second view of the same database with no cache at all: what is really stored."""
    return Store.open(url, None)


def settle(service: SessionService) -> None:
    """Wait until the service's queued Redis writes are sent: a test that reads or writes
    Redis itself must not race them (the app never needs to)."""
    assert service.store.cache.flush(timeout=5.0)


def hot_key(service: SessionService, session_id: str) -> str:
    settle(service)
    return service.store.cache.key(session_id)


def test_open_is_served_from_redis_when_versions_match(
    service: SessionService, rclient: redis.Redis, sqlite_url: str
) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "The Keeper's Letter")
    for n in range(1, 4):
        service.append_part(alice, s.id, direction=f"step {n}", content=f"Part {n} of the story.")
    opened = service.open(alice, s.id)
    assert opened.from_cache
    assert service.cache_state is CacheState.ONLINE
    assert [p.content for p in opened.parts] == [f"Part {n} of the story." for n in (1, 2, 3)]
    entry = rclient.hgetall(hot_key(service, s.id))
    assert int(entry[b"v"]) == opened.session.version
    assert {k for k in entry if k.startswith(b"p:")} == {b"p:1", b"p:2", b"p:3"}
    assert 0 < rclient.ttl(hot_key(service, s.id)) <= cache_module.HOT_TTL_SECONDS
    # What Redis served is exactly what the database holds.
    truth = db_only(sqlite_url)
    try:
        assert truth.open_session(alice, s.id).parts == opened.parts
    finally:
        truth.close()


def test_a_long_streaming_part_reaches_redis_whole(
    service: SessionService, rclient: redis.Redis
) -> None:
    """A checkpoint of a long part (well past the size redis-py would split into several
    writes) is in the hot entry exactly as saved, non-ASCII letters included."""
    alice = make_user(service.store)
    s = service.start(alice, "Über die Brücke")
    part = service.begin_part(alice, s.id, direction="Go on.", model_name="m")
    text = ""
    for n in range(40):
        text += f"Paragraph {n}: the ferry’s horn — “once, twice” — crossed the fjord. " * 12
        service.checkpoint_part(alice, s.id, part.seq, text)
    assert len(text.encode()) > 30_000
    opened = service.open(alice, s.id)
    assert opened.from_cache
    assert opened.parts[-1].content == text
    assert opened.parts[-1].word_count == len(text.split())
    assert int(rclient.hget(hot_key(service, s.id), "v")) == opened.session.version


def test_a_slow_redis_never_holds_up_a_save(
    service: SessionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves return when the database has committed; the hot copy follows on the cache's own
    thread, in order, and a story opened after Redis catches up is served from it."""
    alice = make_user(service.store)
    s = service.start(alice, "Slow Tide")
    other = service.start(alice, "Dry Land")
    service.append_part(alice, other.id, direction="", content="Sand, and more sand.")
    assert service.store.cache.flush()
    cache = service.store.cache
    answer = threading.Event()
    real_cas = cache._cas

    def slow_cas(**kwargs: object) -> object:
        answer.wait(10)  # Redis is stuck until the test lets it answer
        return real_cas(**kwargs)

    monkeypatch.setattr(cache, "_cas", slow_cas)
    part = service.begin_part(alice, s.id, direction="Go on.", model_name="m")
    service.checkpoint_part(alice, s.id, part.seq, "The tide came in")
    service.checkpoint_part(alice, s.id, part.seq, "The tide came in slowly.", state=PartState.DONE)
    service.append_part(alice, s.id, direction="", content="Then it went out.")
    # Every save above returned while Redis had not answered the first of them.
    assert not cache.flush(timeout=0)
    # A read waits only for its own story's writes: another story is served from Redis now.
    assert cache.flush(timeout=0, key=cache.key(other.id))
    assert service.open(alice, other.id).from_cache
    truth = [p.content for p in service.store.parts.iterate(alice, s.id)]
    assert truth == ["The tide came in slowly.", "Then it went out."]
    answer.set()
    assert cache.flush()
    opened = service.open(alice, s.id)
    assert opened.from_cache and [p.content for p in opened.parts] == truth


def test_the_cache_writer_survives_a_failed_write(
    service: SessionService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A write that blows up (a bug, not Redis) is logged, not printed over the screen, and
    later writes still go out, on the same writer thread."""
    cache = service.store.cache
    alice = make_user(service.store)
    s = service.start(alice, "Night Ferry")
    real_cas = cache._cas
    calls = {"n": 0}

    def flaky_cas(**kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in a hot-copy write")
        return real_cas(**kwargs)

    monkeypatch.setattr(cache, "_cas", flaky_cas)
    service.append_part(alice, s.id, direction="", content="The ferry left at nine.")
    service.append_part(alice, s.id, direction="", content="Nobody was on the deck.")
    assert cache.flush()
    assert "a bug in a hot-copy write" in caplog.text
    writers = [t for t in threading.enumerate() if t.name.startswith(cache_module.WRITER_NAME)]
    assert writers, "the writer thread is still there"
    service.append_part(alice, s.id, direction="", content="Then a bell rang.")
    opened = service.open(alice, s.id)
    assert [p.content for p in opened.parts][-1] == "Then a bell rang."
    settle(service)
    assert service.open(alice, s.id).from_cache


def test_close_sends_the_queued_writes_in_order(
    service: SessionService, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each save moves the hot entry on from the version before it (a compare-and-set), so a
    write reordered, lost, or dropped by close() while Redis is merely slow leaves Redis
    without the last version."""
    cache = service.store.cache
    alice = make_user(service.store)
    s = service.start(alice, "Thirty Nights")
    settle(service)
    real_cas = cache._cas
    calls: list[int] = []

    def slow_cas(**kwargs: object) -> object:
        calls.append(1)
        # Slow (though all 30 fit in close()'s wait), and unevenly: a second writer thread
        # would overtake.
        time.sleep(0.04 if len(calls) % 2 else 0.0)
        return real_cas(**kwargs)

    monkeypatch.setattr(cache, "_cas", slow_cas)
    for n in range(1, 31):
        service.append_part(alice, s.id, direction="", content=f"Night {n}.")
    last = service.get(alice, s.id)
    assert not cache.flush(timeout=0)  # most of them are still queued
    cache.close()
    entry = rclient.hgetall(cache.key(s.id))
    assert entry, "the entry was dropped: a write came out of order, or was lost"
    assert int(entry[b"v"]) == last.version
    assert {k for k in entry if k.startswith(b"p:")} == {f"p:{n}".encode() for n in range(1, 31)}


def test_close_drops_what_a_stuck_redis_has_not_taken(
    service: SessionService, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() never waits for Redis for long: past its wait, the queued writes are dropped,
    and none is sent after it returns."""
    cache = service.store.cache
    alice = make_user(service.store)
    s = service.start(alice, "Fog Bank")
    settle(service)
    monkeypatch.setattr(cache_module, "CLOSE_WAIT_S", 0.2)
    answer = threading.Event()
    calls: list[int] = []
    real_cas = cache._cas

    def stuck_cas(**kwargs: object) -> object:
        calls.append(1)
        answer.wait(10)
        return real_cas(**kwargs)

    monkeypatch.setattr(cache, "_cas", stuck_cas)
    for n in range(1, 6):
        service.append_part(alice, s.id, direction="", content=f"Fog {n}.")
    started = time.monotonic()
    cache.close()
    assert time.monotonic() - started < 2.0
    answer.set()
    time.sleep(0.2)
    assert calls == [1]  # the write Redis was stuck on; the four behind it were dropped
    entry = rclient.hgetall(cache.key(s.id))
    assert not entry or int(entry[b"v"]) < service.get(alice, s.id).version


def test_a_stale_entry_is_never_served(service: SessionService, rclient: redis.Redis) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Salt Roads")
    service.append_part(alice, s.id, direction="", content="The first part.")
    assert service.open(alice, s.id).from_cache
    key = hot_key(service, s.id)
    old_entry = rclient.hgetall(key)

    service.append_part(alice, s.id, direction="", content="The second part.")
    service.edit_part(alice, s.id, 1, content="The first part, rewritten.")
    # Put the old version back by hand, as a Redis restored from an old snapshot would hold it.
    settle(service)
    rclient.delete(key)
    rclient.hset(key, mapping=old_entry)

    opened = service.open(alice, s.id)
    assert not opened.from_cache
    assert [p.content for p in opened.parts] == ["The first part, rewritten.", "The second part."]
    # The stale entry was replaced by the current one, which the next open may use.
    settle(service)
    assert int(rclient.hget(key, "v")) == opened.session.version
    again = service.open(alice, s.id)
    assert again.from_cache and again.parts == opened.parts


def test_a_newer_or_garbage_entry_is_dropped_too(
    service: SessionService, rclient: redis.Redis
) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Winter Orchard")
    service.append_part(alice, s.id, direction="", content="Real text.")
    key = hot_key(service, s.id)
    version = service.get(alice, s.id).version
    rclient.hset(key, mapping={"v": str(version + 5)})
    assert not service.open(alice, s.id).from_cache
    settle(service)
    rclient.hset(key, mapping={"v": "not a number", "s": "{broken"})
    opened = service.open(alice, s.id)
    assert not opened.from_cache
    assert [p.content for p in opened.parts] == ["Real text."]
    # An entry missing parts (same version) is as bad as a stale one.
    settle(service)
    rclient.hdel(key, "p:1")
    opened = service.open(alice, s.id)
    assert not opened.from_cache and [p.content for p in opened.parts] == ["Real text."]


def test_redis_restarted_with_stale_data(
    sqlite_url: str, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "RETRY_AFTER_SECONDS", 0.2)
    service = SessionService(Store.open(sqlite_url, own_redis.url))
    try:
        alice = make_user(service.store)
        s = service.start(alice, "Glass Cartographer")
        service.append_part(alice, s.id, direction="", content="Mapped the coast.")
        assert service.open(alice, s.id).from_cache
        key = hot_key(service, s.id)
        client = redis.Redis.from_url(own_redis.url)
        snapshot = client.hgetall(key)
        client.close()

        own_redis.stop()
        service.append_part(alice, s.id, direction="", content="Mapped the islands.")
        settle(service)
        assert service.cache_state is CacheState.OFFLINE
        own_redis.start()
        client = redis.Redis.from_url(own_redis.url)
        client.hset(key, mapping=snapshot)  # the restarted Redis holds an old copy
        time.sleep(0.25)

        opened = service.open(alice, s.id)
        assert service.cache_state is CacheState.ONLINE
        assert not opened.from_cache
        assert [p.content for p in opened.parts] == ["Mapped the coast.", "Mapped the islands."]
        settle(service)
        assert int(client.hget(key, "v")) == opened.session.version
        client.close()
    finally:
        service.store.close()


@pytest.fixture
def redis_fault_service(
    database_url: str, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SessionService]:
    monkeypatch.setattr(cache_module, "RETRY_AFTER_SECONDS", 0.2)
    client = redis.Redis.from_url(own_redis.url)
    client.flushdb()
    client.close()
    store = Store.open(database_url, own_redis.url)
    yield SessionService(store)
    store.close()


def test_redis_killed_mid_session_then_back_empty(
    redis_fault_service: SessionService, own_redis: RedisServer, database_url: str
) -> None:
    service = redis_fault_service
    alice = make_user(service.store)
    keeper = service.start(alice, "The Keeper's Letter", {"genre": "mystery"})
    doomed = service.start(alice, "A draft to throw away")
    for n in range(1, 4):
        service.append_part(alice, keeper.id, direction=f"d{n}", content=f"Part {n} words here.")
    assert service.open(alice, keeper.id).from_cache

    own_redis.stop()
    started = time.monotonic()
    salt = service.start(alice, "Salt Roads")
    settle(service)  # the failed write is the writer thread's; the state follows it
    assert service.cache_state is CacheState.OFFLINE
    assert {s.title for s in service.list(alice).items} >= {"Salt Roads", "The Keeper's Letter"}
    opened = service.open(alice, keeper.id)
    assert not opened.from_cache and len(opened.parts) == 3
    service.append_part(alice, keeper.id, direction="d4", content="Part 4 words here.")
    streaming = service.begin_part(alice, keeper.id, direction="d5", model_name="gemma3:latest")
    service.checkpoint_part(alice, keeper.id, streaming.seq, "The storm")
    service.checkpoint_part(
        alice, keeper.id, streaming.seq, "The storm reached the harbour.", state=PartState.DONE
    )
    service.edit_part(alice, keeper.id, 1, content="Part 1, revised.")
    service.update_metadata(alice, keeper.id, {"genre": "mystery", "tone": "dark"})
    service.pause(alice, salt.id)
    service.resume(alice, salt.id)
    service.complete(alice, salt.id)
    service.delete(alice, doomed.id)
    elapsed = time.monotonic() - started
    settle(service)
    assert service.cache_state is CacheState.OFFLINE
    # A dead Redis never makes a writer wait: all of the above in well under a second or two.
    assert elapsed < 3.0, elapsed

    truth = db_only(database_url)
    try:
        parts = list(truth.parts.iterate(alice, keeper.id))
        assert [p.content for p in parts] == [
            "Part 1, revised.",
            "Part 2 words here.",
            "Part 3 words here.",
            "Part 4 words here.",
            "The storm reached the harbour.",
        ]
        stored = truth.get_session(alice, keeper.id)
        assert stored.part_count == 5 and stored.word_count == 3 + 4 * 3 + 5
        assert stored.session_metadata == {"genre": "mystery", "tone": "dark"}
        assert truth.get_session(alice, salt.id).status is SessionStatus.COMPLETED
        assert [s.id for s in truth.list_sessions(alice).items if s.id == doomed.id] == []
    finally:
        truth.close()

    # Redis comes back empty: after the retry pause it is used again and entries are rebuilt.
    own_redis.start()
    time.sleep(0.25)
    first = service.open(alice, keeper.id)
    assert service.cache_state is CacheState.ONLINE
    assert not first.from_cache
    second = service.open(alice, keeper.id)
    assert second.from_cache and second.parts == first.parts
    assert [p.content for p in second.parts][-1] == "The storm reached the harbour."


def test_two_databases_sharing_one_redis_never_see_each_other(
    tmp_path: Path, redis_url: str, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = SessionService(Store.open(f"sqlite:///{tmp_path / 'one.db'}", redis_url))
    two = SessionService(Store.open(f"sqlite:///{tmp_path / 'two.db'}", redis_url))
    try:
        assert one.store.database_id != two.store.database_id
        # The worst case: the same user id and the same session id in both databases.
        shared_id = uuid.uuid4()
        monkeypatch.setattr(uuid, "uuid4", lambda: shared_id)
        a1 = make_user(one.store)
        a2 = make_user(two.store)
        s1 = one.start(a1, "In database one")
        s2 = two.start(a2, "In database two")
        monkeypatch.undo()
        assert s1.id == s2.id
        one.append_part(a1, s1.id, direction="", content="Text of one.")
        two.append_part(a2, s2.id, direction="", content="Text of two.")
        two.append_part(a2, s2.id, direction="", content="More of two.")
        for _ in range(2):
            o1 = one.open(a1, s1.id)
            o2 = two.open(a2, s2.id)
            assert o1.session.title == "In database one"
            assert [p.content for p in o1.parts] == ["Text of one."]
            assert o2.session.title == "In database two"
            assert [p.content for p in o2.parts] == ["Text of two.", "More of two."]
        assert o1.from_cache and o2.from_cache
        settle(one)
        settle(two)
        one.store.events.publisher.flush()
        two.store.events.publisher.flush()
        keys = {k.decode() for k in rclient.scan_iter("storyterm:*")}
        # The hot copies, and each database's live events (core/events), each in its own
        # namespace although the user and session ids are the same.
        events = {one.store.events.channel.key(a1), two.store.events.channel.key(a2)}
        assert keys == {one.store.cache.key(s1.id), two.store.cache.key(s2.id)} | events
        assert len(keys) == 4
    finally:
        one.store.close()
        two.store.close()


def test_a_copied_sqlite_file_does_not_share_hot_entries_with_its_original(
    tmp_path: Path, redis_url: str
) -> None:
    """A copy of a story file (a backup opened beside the original, a second draft) has the same
    database id; it must still never be served the original's parts from a shared Redis."""
    original_url = f"sqlite:///{tmp_path / 'original.db'}"
    setup = Store.open(original_url, None)
    alice = make_user(setup)
    session_id = setup.create_session(alice, "Forked", {}, None).id
    setup.parts.add(alice, session_id, direction="", content="Common start.")
    setup.close()
    shutil.copy(tmp_path / "original.db", tmp_path / "copy.db")

    original = SessionService(Store.open(original_url, redis_url))
    copy = SessionService(Store.open(f"sqlite:///{tmp_path / 'copy.db'}", redis_url))
    try:
        copy.append_part(alice, session_id, direction="", content="The copy goes north.")
        original.append_part(alice, session_id, direction="", content="The original goes south.")
        from_original = original.open(alice, session_id)
        from_copy = copy.open(alice, session_id)
        assert [p.content for p in from_original.parts][-1] == "The original goes south."
        assert [p.content for p in from_copy.parts][-1] == "The copy goes north."
        assert original.open(alice, session_id).parts[-1].content == "The original goes south."
        assert copy.open(alice, session_id).parts[-1].content == "The copy goes north."
    finally:
        original.store.close()
        copy.store.close()


def test_pausing_leaves_the_hot_set_and_resuming_warms_it(
    service: SessionService, rclient: redis.Redis
) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Salt Roads")
    service.append_part(alice, s.id, direction="", content="Salt on the wind.")
    assert service.open(alice, s.id).from_cache
    key = hot_key(service, s.id)
    assert rclient.exists(key)

    service.pause(alice, s.id)
    settle(service)
    assert not rclient.exists(key)
    paused = service.open(alice, s.id)
    assert not paused.from_cache and paused.session.status is SessionStatus.PAUSED
    assert [p.content for p in paused.parts] == ["Salt on the wind."]
    assert not rclient.exists(key)  # reading a paused story does not put it back

    resumed = service.resume(alice, s.id)
    settle(service)
    assert int(rclient.hget(key, "v")) == resumed.version
    warm = service.open(alice, s.id)
    assert warm.from_cache and [p.content for p in warm.parts] == ["Salt on the wind."]

    service.complete(alice, s.id)
    settle(service)
    assert not rclient.exists(key)
    service.delete(alice, s.id)
    settle(service)
    assert not rclient.exists(key)


def test_hot_entry_keeps_only_the_newest_parts(
    service: SessionService, rclient: redis.Redis
) -> None:
    alice = make_user(service.store)
    s = service.start(alice, "Long one")
    for n in range(1, TAIL_PARTS + 6):
        service.append_part(alice, s.id, direction="", content=f"part {n}")
    key = hot_key(service, s.id)
    seqs = sorted(int(k[2:]) for k in rclient.hkeys(key) if k.startswith(b"p:"))
    assert seqs == list(range(6, TAIL_PARTS + 6))
    # Editing an old part (outside the hot tail) keeps the hot entry usable and correct.
    service.edit_part(alice, s.id, 2, content="part 2, edited")
    settle(service)
    seqs = sorted(int(k[2:]) for k in rclient.hkeys(key) if k.startswith(b"p:"))
    assert seqs == list(range(6, TAIL_PARTS + 6))
    opened = service.open(alice, s.id, tail=10)
    assert opened.from_cache
    assert [p.seq for p in opened.parts] == list(range(TAIL_PARTS - 4, TAIL_PARTS + 6))
    assert service.store.parts.get(alice, s.id, 2).content == "part 2, edited"


@pytest.mark.parametrize(
    "url",
    ["not a url", "http://example.com/", "redis://127.0.0.1:notaport/0", "UNREACHABLE"],
)
def test_garbage_or_unreachable_redis_works_and_reports_offline(sqlite_url: str, url: str) -> None:
    if url == "UNREACHABLE":
        url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    service = SessionService(Store.open(sqlite_url, url))
    try:
        alice = make_user(service.store)
        s = service.start(alice, "Works anyway")
        service.append_part(alice, s.id, direction="", content="Nothing lost.")
        opened = service.open(alice, s.id)
        service.pause(alice, s.id)
        service.resume(alice, s.id)
        assert [p.content for p in opened.parts] == ["Nothing lost."]
        assert not opened.from_cache
        assert service.cache_state is CacheState.OFFLINE
        assert service.store.cache.last_error
    finally:
        service.store.close()
    assert time.monotonic() - started < 5.0
