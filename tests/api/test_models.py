"""/api/models and the Ollama line of /api/health, against the loopback FakeOllama."""

from __future__ import annotations

import socket
import time

import pytest
from fastapi.testclient import TestClient

from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from tests.api.conftest import Login


def test_models_lists_what_ollama_has(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    fake_ollama.models = [
        FakeModel("mistral-small3.1"),
        FakeModel("nomic-embed-text", family="nomic-bert"),
        FakeModel("qwen3:8b", parameter_size="8.2B"),
    ]
    alice = login("alice")
    response = client.get("/api/models", headers=alice)
    assert response.status_code == 200
    body = response.json()
    by_name = {m["name"]: m for m in body["models"]}
    assert set(by_name) == {"mistral-small3.1:latest", "nomic-embed-text:latest", "qwen3:8b"}
    assert by_name["qwen3:8b"]["parameter_size"] == "8.2B"
    assert by_name["nomic-embed-text:latest"]["can_write"] is False
    # gemma3 is not there, so the second preference is what a new story gets.
    assert body["default"] == "mistral-small3.1:latest"


def test_models_with_only_an_embedding_model_has_no_default(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    fake_ollama.models = [FakeModel("nomic-embed-text", family="nomic-bert")]
    body = client.get("/api/models", headers=login("alice")).json()
    assert body["default"] is None and len(body["models"]) == 1


def test_models_when_ollama_is_down(client: TestClient, login: Login) -> None:
    response = client.get("/api/models", headers=login("alice"))
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "127.0.0.1:9" in error["message"]


def test_models_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/models").status_code == 401


def test_health_sees_ollama(fake_ollama: FakeOllama, client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["ollama"] == {"state": "online", "detail": None}
    assert body["status"] == "ok"
    fake_ollama.models = []
    body = client.get("/api/health").json()
    assert body["ollama"]["state"] == "no_models"
    assert "ollama pull gemma3" in body["ollama"]["detail"]
    assert body["status"] == "degraded"


def test_health_when_ollama_is_down(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200  # the stories are all still there
    body = response.json()
    assert body["status"] == "degraded"
    assert body["ollama"]["state"] == "offline"
    assert "127.0.0.1:9" in body["ollama"]["detail"]
    assert body["database"]["state"] == "online"


def test_health_answers_quickly_when_ollama_hangs(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyterm.api import create_app
    from storyterm.api.routes import health
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    monkeypatch.setattr(health, "OLLAMA_CHECK_SECONDS", 0.3)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        runtime = Runtime(load_settings(database_url=sqlite_url, redis_url="", ollama_host=host))
        with TestClient(create_app(runtime)) as client:
            started = time.monotonic()
            body = client.get("/api/health").json()
            assert time.monotonic() - started < 3
        runtime.close()
    assert body["ollama"]["state"] == "offline"
    assert "did not answer within 0.3 seconds" in body["ollama"]["detail"]
