"""The API against real SQLite and the tests' throwaway Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.api.deps import bearer_token, current_account
from storyterm.core.errors import AuthError
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from tests.helpers import make_user

Login = Callable[[str], dict[str, str]]


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


@dataclass(frozen=True)
class _Actor:
    id: int
    username: str


@pytest.fixture
def login(app: FastAPI, runtime: Runtime) -> Login:
    """Make a writer and return the headers that act as them."""
    tokens: dict[str, _Actor] = {}

    def verify(token: str = _dep_token()) -> _Actor:  # type: ignore[assignment]
        if token not in tokens:
            raise AuthError("That login is no longer valid: log in again.")
        return tokens[token]

    app.dependency_overrides[current_account] = verify

    def make(name: str) -> dict[str, str]:
        user_id = make_user(runtime.store, name)
        tokens[f"token-{name}"] = _Actor(user_id, name)
        return {"Authorization": f"Bearer token-{name}"}

    return make


def _dep_token():  # type: ignore[no-untyped-def]
    from fastapi import Depends

    return Depends(bearer_token)
