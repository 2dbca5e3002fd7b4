"""The API against real SQLite and the tests' throwaway Redis, with real accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings

Login = Callable[[str], dict[str, str]]

PASSWORD = "correct horse battery"


@pytest.fixture
def runtime(sqlite_url: str, redis_url: str) -> Iterator[Runtime]:
    rt = Runtime(load_settings(database_url=sqlite_url, redis_url=redis_url))
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login_headers(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
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
