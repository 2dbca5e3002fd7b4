"""/api/health reports each part's state, and never answers 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from tests.services import RedisServer, free_port


def test_health_with_everything_local(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == {"state": "online", "detail": None, "backend": "sqlite"}
    assert body["cache"]["state"] == "online"
    assert body["events"] == {
        "state": "live",
        "detail": "changes reach every window as they happen",
    }


def test_health_when_redis_goes_away(sqlite_url: str, own_redis: RedisServer) -> None:
    runtime = Runtime(load_settings(database_url=sqlite_url, redis_url=own_redis.url))
    with TestClient(create_app(runtime)) as client:
        assert client.get("/api/health").json()["cache"]["state"] == "online"
        own_redis.stop()
        try:
            response = client.get("/api/health")
            assert response.status_code == 200
            body = response.json()
            assert body["status"] == "degraded"
            assert body["cache"]["state"] == "offline"
            assert body["cache"]["detail"]
            assert body["events"]["state"] == "database_watch"
            assert "watching the database every few seconds" in body["events"]["detail"]
        finally:
            own_redis.start()
        body = client.get("/api/health").json()
        assert body["cache"]["state"] == "online"
        assert body["events"]["state"] == "live"
    runtime.close()


def test_health_without_a_cache(sqlite_url: str) -> None:
    runtime = Runtime(load_settings(database_url=sqlite_url, redis_url=""))
    with TestClient(create_app(runtime)) as client:
        body = client.get("/api/health").json()
    assert body["cache"]["state"] == "disabled"
    assert body["events"]["state"] == "off"
    assert body["status"] != "unavailable"
    runtime.close()


def test_health_when_the_database_is_down() -> None:
    url = f"postgresql://storyterm@127.0.0.1:{free_port()}/nothing"
    runtime = Runtime(load_settings(database_url=url, redis_url="redis://127.0.0.1:9/0"))
    with TestClient(create_app(runtime)) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["state"] == "offline"
    assert "Cannot open the database" in body["database"]["detail"]
    assert body["cache"]["state"] == "unknown"
    assert body["events"]["state"] == "unknown"
    runtime.close()


def test_health_says_events_are_not_flowing_when_redis_does_not_hand_them_back(
    sqlite_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis answers, but what is published never comes back (here: the publisher sends
    nowhere): the probe, not the ping, decides."""
    from storyterm.core.events.publisher import Publisher

    monkeypatch.setattr(Publisher, "_send", lambda self, batch: None)
    runtime = Runtime(load_settings(database_url=sqlite_url, redis_url=redis_url))
    with TestClient(create_app(runtime)) as client:
        response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["cache"]["state"] == "online"
    assert body["events"]["state"] == "database_watch"
    assert "did not come back within 1 s" in body["events"]["detail"]
    assert body["status"] == "degraded"
    runtime.close()
