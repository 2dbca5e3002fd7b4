"""The API against real SQLite and the tests' throwaway Redis, with real accounts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.settings import load_settings
from tests.services import free_port

Login = Callable[[str], dict[str, str]]

PASSWORD = "correct horse battery"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra settings for the test's runtime (a test overrides this fixture, or fills it)."""
    return {}


@pytest.fixture
def runtime(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    redis_url: str,
    settings_overrides: dict[str, Any],
) -> Iterator[Runtime]:
    overrides = dict(settings_overrides)
    if "fake_ollama" in request.fixturenames:
        overrides.setdefault("ollama_host", request.getfixturevalue("fake_ollama").url)
    rt = Runtime(load_settings(database_url=sqlite_url, redis_url=redis_url, **overrides))
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login_headers(client: Any, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def login(app: FastAPI, runtime: Runtime) -> Login:
    """Register a writer and log them in over the API; returns their Authorization header."""

    def make(name: str) -> dict[str, str]:
        runtime.identity.register(name, PASSWORD)
        with TestClient(app) as client:
            return login_headers(client, name)

    return make


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A loopback Ollama stand-in that the test's runtime talks to (40 tokens as fast as the
    socket takes them, unless the test changes its attributes before generating)."""
    with FakeOllama(tokens=40) as fake:
        yield fake


class LiveServer:
    """The app under a real uvicorn on a free loopback port, in a thread: the only way to
    see streaming and a client's disconnect as they happen over a socket."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(200):
            if self.server.started:
                return self
            deadline.wait(0.05)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app).start()
    yield server
    server.stop()
