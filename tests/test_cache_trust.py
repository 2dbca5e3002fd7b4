"""Redis is input like any other (DESIGN.md, "Dual storage", 7): a hot entry of the wrong shape,
or one storyterm did not write, is a miss, is deleted, and the database's text is served, by the
Store and by `storyterm show` and the API; entries storyterm wrote still hit."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.cache import SEAL_LEN, Cache
from storyterm.core.database import META_CACHE_KEY, ensure_meta
from storyterm.core.service import SessionService
from storyterm.core.store import Store
from storyterm.core.views import Part
from tests.helpers import login_as, make_user

REAL = ["The lighthouse keeper wrote at dawn.", "The letter went out with the tide."]
FORGED = "The keeper confessed everything."


@dataclass
class Hot:
    """A story of two parts whose hot entry storyterm has written, and what that entry holds."""

    service: SessionService
    user: int
    session_id: str
    key: str
    version: int
    genuine: dict[bytes, bytes]

    @property
    def cache(self) -> Cache:
        return self.service.store.cache

    def seal(self, field: str, obj: Any) -> bytes:
        """A value sealed with the database's key, as storyterm would write it: an entry whose
        seal holds but whose content is not what this storyterm reads (an older version's)."""
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return self.cache._seal(self.key.encode() + b"\0", field.encode(), body)

    def part_json(self, seq: int) -> dict[str, Any]:
        return json.loads(self.genuine[f"p:{seq}".encode()][SEAL_LEN:])


def make_hot(service: SessionService, rclient: redis.Redis) -> Hot:
    user = make_user(service.store)
    s = service.start(user, "The Keeper's Letter")
    for text in REAL:
        service.append_part(user, s.id, direction="", content=text)
    opened = service.open(user, s.id)
    assert opened.from_cache  # storyterm's own entry hits
    assert service.store.cache.flush()
    key = service.store.cache.key(s.id)
    return Hot(service, user, s.id, key, opened.session.version, rclient.hgetall(key))


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def hot(database_url: str, redis_url: str, rclient: redis.Redis) -> Iterator[Hot]:
    store = Store.open(database_url, redis_url)
    yield make_hot(SessionService(store), rclient)
    store.close()


def _with(hot: Hot, **fields: Any) -> dict[bytes, Any]:
    entry = dict(hot.genuine)
    for name, value in fields.items():
        name = name.replace("_", ":")
        if value is None:
            entry.pop(name.encode(), None)
        else:
            entry[name.encode()] = value
    return entry


def _forged_part(hot: Hot) -> bytes:
    part = hot.part_json(2) | {"content": FORGED, "word_count": 4}
    return json.dumps(part).encode()


def _other_session_entry(hot: Hot) -> dict[bytes, Any]:
    """The whole (genuine) entry of another story, copied under this story's key."""
    other = hot.service.start(hot.user, "Another story")
    hot.service.append_part(hot.user, other.id, direction="", content=FORGED)
    hot.service.append_part(hot.user, other.id, direction="", content=FORGED)
    assert hot.service.open(hot.user, other.id).from_cache
    assert hot.cache.flush()
    entry = redis.Redis.from_url(hot.cache.url).hgetall(hot.cache.key(other.id))
    return entry | {b"v": str(hot.version).encode()}


#: Hand-written entries, each with the current version unless the case is about the version.
#: A callable gives the hash's fields; a "redis:" case writes another type of key.
CORPUS: dict[str, Callable[[Hot], Any]] = {
    # Not written by storyterm at all.
    "garbage bytes": lambda h: _with(h, s=os.urandom(300), p_1=b"\xff\xfe\x00\x1b[2J", p_2=b""),
    "not JSON": lambda h: _with(h, s=b"{broken", p_1=b"{broken", p_2=b"[[[["),
    "forged text, unsealed": lambda h: _with(h, p_2=_forged_part(h)),
    "forged text, made-up seal": lambda h: _with(h, p_2=b"0" * SEAL_LEN + _forged_part(h)),
    "forged text, old seal kept": lambda h: _with(
        h, p_2=h.genuine[b"p:2"][:SEAL_LEN] + _forged_part(h)
    ),
    "a genuine part under another field": lambda h: _with(
        h, p_1=h.genuine[b"p:2"], p_2=h.genuine[b"p:1"]
    ),
    "another story's genuine entry": _other_session_entry,
    # Wrong shape.
    "no session field": lambda h: _with(h, s=None),
    "a missing part": lambda h: _with(h, p_2=None),
    "an unknown field": lambda h: _with(h, x=b"1"),
    "a version that is not a number": lambda h: {b"v": b"NaN", b"s": b"{}"},
    "a negative version": lambda h: _with(h, v=b"-1"),
    "a version and nothing else": lambda h: {b"v": str(h.version).encode()},
    "redis:a string": lambda h: "string",
    "redis:a list": lambda h: "list",
    # Sealed with the right key (as an older storyterm would have), not the views' shape.
    "sealed: a part that is a list": lambda h: _with(h, p_2=h.seal("p:2", [1, 2])),
    "sealed: a part missing fields": lambda h: _with(h, p_2=h.seal("p:2", {"seq": 2})),
    "sealed: a part of the wrong types": lambda h: _with(
        h, p_2=h.seal("p:2", h.part_json(2) | {"seq": "two", "state": 7})
    ),
    "sealed: another part's seq": lambda h: _with(
        h, p_2=h.seal("p:2", h.part_json(2) | {"seq": 1})
    ),
    "sealed: another story's part": lambda h: _with(
        h, p_2=h.seal("p:2", h.part_json(2) | {"session_id": "someone-else"})
    ),
    "sealed: not JSON": lambda h: _with(h, p_2=h.seal("p:2", b"\x00\x1b]0;pwned\x07")),
    "sealed: a session of another version": lambda h: _with(
        h, s=h.seal("s", json.loads(h.genuine[b"s"][SEAL_LEN:]) | {"version": h.version + 1})
    ),
    "sealed: a session that is a string": lambda h: _with(h, s=h.seal("s", "session")),
}


def plant(hot: Hot, rclient: redis.Redis, case: str) -> None:
    """Replace the story's hot entry with the hostile one (after storyterm's writes are sent)."""
    entry = CORPUS[case](hot)
    assert hot.cache.flush()
    rclient.delete(hot.key)
    if entry == "string":
        rclient.set(hot.key, str(hot.version))
    elif entry == "list":
        rclient.rpush(hot.key, str(hot.version), FORGED)
    else:
        rclient.hset(hot.key, mapping=entry)


@pytest.mark.parametrize("case", list(CORPUS))
def test_a_hostile_entry_is_a_miss_and_is_deleted(
    sqlite_url: str, redis_url: str, rclient: redis.Redis, case: str
) -> None:
    """The cache itself: the entry is not returned, is counted, and is gone from Redis (so
    renewing its TTL on each read can never keep it alive)."""
    store = Store.open(sqlite_url, redis_url)
    try:
        hot = make_hot(SessionService(store), rclient)
        plant(hot, rclient, case)
        assert store.cache.load(hot.session_id, Part.model_validate) is None
        assert store.cache.rejected == 1
        assert store.cache.flush()
        assert not rclient.exists(hot.key)
        assert store.cache_state.value == "online"  # the entry's fault, not Redis's
    finally:
        store.close()


@pytest.mark.parametrize("case", list(CORPUS))
def test_a_hostile_entry_never_reaches_the_writer(
    hot: Hot, rclient: redis.Redis, case: str
) -> None:
    """Opening the story serves the database's text, and writes a good entry in place of the
    hostile one, which the next open uses."""
    plant(hot, rclient, case)
    opened = hot.service.open(hot.user, hot.session_id)
    assert not opened.from_cache
    assert [p.content for p in opened.parts] == REAL
    assert hot.cache.rejected == 1
    assert hot.cache.flush()
    assert rclient.hgetall(hot.key) == hot.genuine
    again = hot.service.open(hot.user, hot.session_id)
    assert again.from_cache and again.parts == opened.parts
    assert hot.cache.rejected == 1


def test_a_hostile_entry_under_a_write_is_dropped_not_an_outage(
    hot: Hot, rclient: redis.Redis
) -> None:
    """A save's compare-and-set meeting a key of another type drops it; Redis stays online."""
    plant(hot, rclient, "redis:a string")
    hot.service.append_part(hot.user, hot.session_id, direction="", content="A third part.")
    assert hot.cache.flush()
    assert hot.service.cache_state.value == "online"
    assert not rclient.exists(hot.key)
    opened = hot.service.open(hot.user, hot.session_id)
    assert [p.content for p in opened.parts] == [*REAL, "A third part."]


def test_entries_storyterm_wrote_hit_from_another_client_of_the_database(
    database_url: str, redis_url: str, rclient: redis.Redis
) -> None:
    """The key lives in the database: a second client (another process, the API) of the same
    database verifies the first one's entries; a cache with another key does not."""
    first = Store.open(database_url, redis_url)
    second = Store.open(database_url, redis_url)
    try:
        hot = make_hot(SessionService(first), rclient)
        assert first.cache.namespace == second.cache.namespace
        opened = SessionService(second).open(hot.user, hot.session_id)
        assert opened.from_cache and [p.content for p in opened.parts] == REAL
        assert second.cache.rejected == 0
        key = ensure_meta(first.engine)[META_CACHE_KEY]
        assert len(key) >= 40  # generated once, kept in app_meta
        stranger = Cache(redis_url, first.cache.namespace, mac_key=b"not the database's key")
        try:
            assert stranger.load(hot.session_id, Part.model_validate) is None
            assert stranger.rejected == 1
        finally:
            stranger.close()
    finally:
        first.close()
        second.close()


# -- the command line and the API -----------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["forged text, unsealed", "sealed: a part missing fields", "garbage bytes", "redis:a list"],
)
def test_storyterm_show_prints_the_databases_text(
    sqlite_url: str,
    redis_url: str,
    rclient: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STORYTERM_REDIS_URL", redis_url)
    account = login_as(monkeypatch, "alice")
    store = Store.open(sqlite_url, redis_url)
    try:
        service = SessionService(store)
        s = service.start(account.id, "The Keeper's Letter")
        for text in REAL:
            service.append_part(account.id, s.id, direction="", content=text)
        assert service.open(account.id, s.id).from_cache
        assert store.cache.flush()
        key = store.cache.key(s.id)
        hot = Hot(service, account.id, s.id, key, store.get_session(account.id, s.id).version,
                  rclient.hgetall(key))  # fmt: skip
        for args in (["show", s.id], ["show", "--json", s.id]):
            plant(hot, rclient, case)
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert "Traceback" not in result.output
            for text in REAL:
                assert text in result.stdout
            assert FORGED not in result.stdout
            assert not rclient.exists(key) or rclient.hgetall(key) == hot.genuine
    finally:
        store.close()


def test_the_api_serves_the_databases_text(
    sqlite_url: str, redis_url: str, rclient: redis.Redis
) -> None:
    from fastapi.testclient import TestClient

    from storyterm.api import create_app
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    runtime = Runtime(load_settings(database_url=sqlite_url, redis_url=redis_url))
    try:
        account = login_as(runtime, "alice")
        service = runtime.sessions
        s = service.start(account.id, "The Keeper's Letter")
        for text in REAL:
            service.append_part(account.id, s.id, direction="", content=text)
        assert service.open(account.id, s.id).from_cache
        cache = runtime.store.cache
        assert cache.flush()
        key = cache.key(s.id)
        version = runtime.store.get_session(account.id, s.id).version
        with TestClient(create_app(runtime)) as client:
            headers = {"Authorization": f"Bearer {runtime.tokens.load()}"}
            for entry in (
                {b"v": str(version).encode(), b"s": b"{}", b"p:1": b"[]", b"p:2": b"{}"},
                {b"v": str(version).encode(), b"s": b"0" * SEAL_LEN + b"{}"},
            ):
                rclient.delete(key)
                rclient.hset(key, mapping=entry)
                response = client.get(f"/api/langchain/sessions/{s.id}", headers=headers)
                assert response.status_code == 200, response.text
                assert [p["content"] for p in response.json()["parts"]] == REAL
    finally:
        runtime.close()
