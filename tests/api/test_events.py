"""GET /api/langchain/events and /api/langchain/sessions/{id}/events: a writer's changes made by
any client of the database arrive as server-sent events, to that writer only, with keep-alives
and Last-Event-ID resume (over a real socket: the app under uvicorn)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from storyterm.api.routes import events as events_routes
from storyterm.core.runtime import Runtime
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from tests.api.conftest import PASSWORD, LiveServer, login_headers


class Frames:
    """The frames of one event stream, read as they come (comments as {"comment": ...})."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        frame: dict[str, Any] = {}
        for line in self.lines:
            if not line:
                if frame:
                    return frame
                continue
            if line.startswith(":"):
                return {"comment": line}
            name, _, value = line.partition(": ")
            frame[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")

    def until(self, event: str, limit: int = 50) -> list[dict[str, Any]]:
        seen = []
        for _ in range(limit):
            seen.append(self.next())
            if seen[-1].get("event") == event:
                return seen
        raise AssertionError(f"no {event} frame in {seen}")


@pytest.fixture
def other_client(sqlite_url: str, redis_url: str) -> Iterator[SessionService]:
    """A second client of the same database (another process, as far as storyterm knows)."""
    store = Store.open(sqlite_url, redis_url)
    yield SessionService(store)
    store.close()


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=httpx.Timeout(5.0)) as client:
        yield client


def test_a_writer_hears_changes_made_elsewhere_and_another_writer_does_not(
    runtime: Runtime,
    http: httpx.Client,
    other_client: SessionService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_routes, "KEEPALIVE_SECONDS", 0.2)
    alice = runtime.identity.register("alice", PASSWORD)
    runtime.identity.register("bob", PASSWORD)
    as_alice, as_bob = login_headers(http, "alice"), login_headers(http, "bob")
    with (
        http.stream("GET", "/api/langchain/events", headers=as_alice) as alices,
        http.stream("GET", "/api/langchain/events", headers=as_bob) as bobs,
    ):
        assert alices.status_code == bobs.status_code == 200
        assert alices.headers["content-type"].startswith("text/event-stream")
        mine, theirs = Frames(alices), Frames(bobs)
        status = mine.next()
        assert status["event"] == "status" and status["data"]["mode"] == "live"
        assert theirs.next()["event"] == "status"

        story = other_client.start(alice.id, "The Keeper's Letter")
        other_client.pause(alice.id, story.id)
        frames = mine.until("session.status")
        heard = [f for f in frames if "event" in f]
        assert [f["event"] for f in heard] == ["session.created", "session.status"]
        assert heard[0]["data"]["session_id"] == story.id
        assert heard[0]["data"]["title"] == "The Keeper's Letter"
        assert heard[1]["data"]["status"] == "paused"
        assert all(f["id"] == f["data"]["id"] for f in heard)
        # Bob hears only that the connection lives: keep-alives, nothing of Alice's.
        quiet = [theirs.next() for _ in range(2)]
        assert all("comment" in f for f in quiet), quiet


def test_one_storys_stream_carries_its_text_as_it_is_written(
    runtime: Runtime, http: httpx.Client, other_client: SessionService
) -> None:
    alice = runtime.identity.register("alice", PASSWORD)
    as_alice = login_headers(http, "alice")
    story = other_client.start(alice.id, "Salt Roads")
    elsewhere = other_client.start(alice.id, "Winter Orchard")
    # The story's own `session.created` is sent before the stream opens (on a busy machine its
    # send could land just after, and the stream would rightly carry it first).
    assert other_client.store.events.publisher.flush(10)
    url = f"/api/langchain/sessions/{story.id}/events"
    with http.stream("GET", url, headers=as_alice) as response:
        frames = Frames(response)
        assert frames.next()["event"] == "status"
        other_client.rename(alice.id, elsewhere.id, "Not this one")  # another story: not sent
        part = other_client.begin_part(alice.id, story.id, direction="go", model_name="m")
        live = other_client.live_text(alice.id, part)
        live.add("Rain on ")
        live.add("the glass.")
        heard = [f for f in frames.until("part.text") if "event" in f]
        while sum(len(f["data"]["text"]) for f in heard if f["event"] == "part.text") < 18:
            heard.append(frames.next())
    assert heard[0]["event"] == "part.begun" and heard[0]["data"]["seq"] == 1
    texts = [f["data"] for f in heard if f.get("event") == "part.text"]
    assert "".join(t["text"] for t in texts) == "Rain on the glass."
    assert texts[0]["offset"] == 0
    assert {f["data"]["session_id"] for f in heard if "data" in f} == {story.id}


def test_another_writers_story_is_not_found_and_a_stranger_is_refused(
    runtime: Runtime, http: httpx.Client, other_client: SessionService
) -> None:
    alice = runtime.identity.register("alice", PASSWORD)
    runtime.identity.register("bob", PASSWORD)
    story = other_client.start(alice.id, "Alice's own")
    url = f"/api/langchain/sessions/{story.id}/events"
    answer = http.get(url, headers=login_headers(http, "bob"))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    missing = http.get(url.replace(story.id, "no-such-story"), headers=login_headers(http, "alice"))
    assert missing.status_code == 404
    assert http.get("/api/langchain/events").status_code == 401


def test_last_event_id_resumes_after_the_last_event_received(
    runtime: Runtime, http: httpx.Client, other_client: SessionService
) -> None:
    alice = runtime.identity.register("alice", PASSWORD)
    as_alice = login_headers(http, "alice")
    with http.stream("GET", "/api/langchain/events", headers=as_alice) as response:
        frames = Frames(response)
        story = other_client.start(alice.id, "Dropped")
        last = frames.until("session.created")[-1]["id"]
    # Disconnected: meanwhile the story changes.
    other_client.rename(alice.id, story.id, "Dropped and back")
    other_client.store.events.publisher.flush()
    headers = {**as_alice, "Last-Event-ID": last}
    with http.stream("GET", "/api/langchain/events", headers=headers) as response:
        frames = Frames(response)
        status = frames.next()
        assert status["data"] == {"mode": "live", "reason": "live events", "resync": False}
        renamed = frames.next()
    assert renamed["event"] == "session.renamed"
    assert renamed["data"]["title"] == "Dropped and back"
