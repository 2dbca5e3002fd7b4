"""Redis is input like any other (DESIGN.md, "Dual storage", 7): a hot entry of the wrong shape,
or one storyterm did not write, is a miss, is deleted, and the database's text is served, by the
Store and by `storyterm show` and the API; entries storyterm wrote still hit; and copies of one
database on two PostgreSQL servers never share entries."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.service import SessionService
from storyterm.core.storage.cache import SEAL_LEN, Cache
from storyterm.core.storage.database import META_CACHE_KEY, META_DATABASE_ID, ensure_meta
from storyterm.core.storage.namespace import cache_namespace
from storyterm.core.storage.store import Store
from storyterm.core.views import Part
from tests.helpers import login_as, make_user
from tests.services import PostgresServer

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


def test_a_redis_url_asking_for_decoded_replies_still_hits(
    sqlite_url: str, redis_url: str, rclient: redis.Redis
) -> None:
    """Sealed values are bytes: a URL's ?decode_responses=True (which wins over from_url's
    keyword) must not turn every entry into a rejected one."""
    store = Store.open(sqlite_url, redis_url + "?decode_responses=True")
    try:
        hot = make_hot(SessionService(store), rclient)
        assert hot.service.open(hot.user, hot.session_id).from_cache
        assert store.cache.rejected == 0
    finally:
        store.close()


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


# -- copies of one database on two PostgreSQL servers ---------------------------------------


@dataclass
class Copies:
    """One database on server `a`, and copies of it elsewhere."""

    a: PostgresServer
    b: PostgresServer
    name: str
    user: int
    session_id: str

    def url(self, server: PostgresServer) -> str:
        return f"postgresql://postgres@127.0.0.1:{server.port}/{self.name}"


@pytest.fixture(scope="module")
def copies() -> Iterator[Copies]:
    """Server `a` with a storyterm database holding a story, and server `b` started from a copy
    of a's data folder (a physical copy: a base backup, a cloned disk), so b has the same
    system identifier, database name, database id and MAC key, at another address."""
    import psycopg

    try:
        a = PostgresServer()
        a.start()
    except Exception as exc:  # no binaries, or initdb refused
        from tests.conftest import service_missing

        service_missing(f"PostgreSQL cannot be started here: {exc}")
    b = PostgresServer()
    try:
        name = "storyterm_copy"
        with psycopg.connect(a.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        store = Store.open(f"postgresql://postgres@127.0.0.1:{a.port}/{name}", None)
        user = make_user(store)
        session_id = store.create_session(user, "The Keeper's Letter", {}, None).id
        store.parts.add(user, session_id, direction="", content="Common start.")
        store.close()
        a._run("pg_ctl", "-D", str(a.data), "-m", "fast", "-w", "stop")
        subprocess.run(["cp", "-a", str(a.data), str(b.data)], check=True)
        a.start()
        b.start()
        yield Copies(a, b, name, user, session_id)
    finally:
        a.close()
        b.close()


def test_copies_on_two_postgresql_servers_never_share_hot_entries(
    copies: Copies, redis_url: str, rclient: redis.Redis
) -> None:
    one = SessionService(Store.open(copies.url(copies.a), redis_url))
    two = SessionService(Store.open(copies.url(copies.b), redis_url))
    try:
        # Everything but the server's address is the same on both: the database id, the MAC
        # key (so either's entries would pass the other's checks), the system identifier...
        metas = [ensure_meta(s.store.engine) for s in (one, two)]
        assert [m[META_DATABASE_ID] for m in metas] == [metas[1][META_DATABASE_ID]] * 2
        assert [m[META_CACHE_KEY] for m in metas] == [metas[1][META_CACHE_KEY]] * 2
        systems = []
        for s in (one, two):
            with s.store.engine.connect() as conn:
                systems.append(
                    conn.exec_driver_sql(
                        "SELECT system_identifier FROM pg_control_system()"
                    ).scalar_one()
                )
        assert systems[0] == systems[1]
        # ...yet the namespaces differ.
        assert one.store.cache.namespace != two.store.cache.namespace
        user, sid = copies.user, copies.session_id
        # Each copy goes its own way, to the same version: the case a shared key would serve
        # one copy's text as the other's.
        one.append_part(user, sid, direction="", content="The original goes south.")
        two.append_part(user, sid, direction="", content="The copy goes north.")
        assert one.get(user, sid).version == two.get(user, sid).version
        for _ in range(2):
            o1 = one.open(user, sid)
            o2 = two.open(user, sid)
            assert [p.content for p in o1.parts] == ["Common start.", "The original goes south."]
            assert [p.content for p in o2.parts] == ["Common start.", "The copy goes north."]
        assert o1.from_cache and o2.from_cache  # both hot, each in its own entry
        assert one.store.cache.flush() and two.store.cache.flush()
        assert one.store.events.publisher.flush() and two.store.events.publisher.flush()
        keys = {k.decode() for k in rclient.scan_iter("storyterm:*")}
        # The hot copies and the live event streams (core/events), each copy's its own.
        events = {one.store.events.channel.key(user), two.store.events.channel.key(user)}
        assert len(events) == 2
        assert keys == {one.store.cache.key(sid), two.store.cache.key(sid)} | events
    finally:
        one.store.close()
        two.store.close()


def test_a_restore_on_a_new_server_at_the_same_address_gets_its_own_namespace(
    copies: Copies, tmp_path: Any
) -> None:
    """pg_dump of a's database restored on a freshly made server that takes over a's address
    and port (a host replaced): same database id, name and address, another system identifier,
    so another namespace."""
    import psycopg

    url_a = copies.url(copies.a)
    before = Store.open(url_a, None)
    namespace_a = cache_namespace(before.engine, before.database_id)
    database_id = before.database_id
    before.close()
    dump = tmp_path / "dump.sql"
    with dump.open("wb") as out:
        subprocess.run([str(copies.a.bin / "pg_dump"), "--no-owner", url_a], check=True, stdout=out)
    copies.a.stop()
    c = PostgresServer()
    c.port = copies.a.port  # the new server answers where the old one did
    try:
        c.start()
        with psycopg.connect(c.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{copies.name}"')
        subprocess.run(
            [str(c.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump), url_a],
            check=True,
            capture_output=True,
        )
        restored = Store.open(url_a, None)
        try:
            assert restored.database_id == database_id
            assert cache_namespace(restored.engine, restored.database_id) != namespace_a
        finally:
            restored.close()
    finally:
        c.close()
        copies.a.start()


def test_clients_of_one_server_share_a_namespace_whatever_the_url_spells(
    copies: Copies,
) -> None:
    """Two spellings of one server and database (a driver named, a query option) are one
    namespace: entries stay shared between clients of one database."""
    plain = Store.open(copies.url(copies.a), None)
    spelled = Store.open(
        f"postgresql+psycopg://postgres@127.0.0.1:{copies.a.port}/{copies.name}"
        "?application_name=other",
        None,
    )
    try:
        assert cache_namespace(plain.engine, plain.database_id) == cache_namespace(
            spelled.engine, spelled.database_id
        )
    finally:
        plain.close()
        spelled.close()


def test_namespaces_stay_when_the_system_identifier_is_hidden(
    copies: Copies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that refuses pg_control_system() to storyterm's role still opens, namespaced by
    address and database."""
    import psycopg

    with psycopg.connect(copies.url(copies.a), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS plain_writer")
        conn.execute("CREATE ROLE plain_writer LOGIN")
        conn.execute(f'GRANT ALL ON DATABASE "{copies.name}" TO plain_writer')
        conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO plain_writer")
        conn.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO plain_writer")
        conn.execute("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC")
    try:
        url = f"postgresql://plain_writer@127.0.0.1:{copies.a.port}/{copies.name}"
        store = Store.open(url, None)
        try:
            hidden = cache_namespace(store.engine, store.database_id)
            assert hidden.startswith(store.database_id + ":")
            admin = Store.open(copies.url(copies.a), None)
            try:
                assert cache_namespace(admin.engine, admin.database_id) != hidden
            finally:
                admin.close()
        finally:
            store.close()
    finally:
        with psycopg.connect(copies.url(copies.a), autocommit=True) as conn:
            conn.execute("GRANT EXECUTE ON FUNCTION pg_control_system() TO PUBLIC")


def test_one_sqlite_path_on_two_machines_is_two_namespaces(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A story file synced to another machine has the same path there (the same user's data
    folder), id and key: with a Redis both machines reach, the machine's name keeps them apart;
    on one machine the file's real path still decides."""
    import socket

    store = Store.open(sqlite_url, None)
    try:
        here = cache_namespace(store.engine, store.database_id)
        assert cache_namespace(store.engine, store.database_id) == here
        monkeypatch.setattr(socket, "gethostname", lambda: "the-other-laptop")
        assert cache_namespace(store.engine, store.database_id) != here
    finally:
        store.close()
