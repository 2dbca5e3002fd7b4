"""Every failure answers one JSON shape a person can read, with the right status."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.api.errors import INTERNAL_MESSAGE
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from tests.api.conftest import Login
from tests.services import free_port

SESSIONS = "/api/langchain/sessions"
START = "/api/langchain/story/start"


def error_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"].strip()
    return body["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer not-a-token"},
    ],
    ids=["missing", "empty", "basic", "garbage"],
)
def test_401_without_a_good_token(client: TestClient, login: Login, headers: dict) -> None:
    login("alice")
    for method, url in [("GET", SESSIONS), ("POST", START), ("GET", f"{SESSIONS}/x")]:
        response = client.request(method, url, headers=headers, json={"title": "x"})
        assert response.status_code == 401, (method, url)
        assert response.headers["www-authenticate"].startswith("Bearer")
        error = error_of(response)
        assert error["code"] in ("auth", "invalid_token")
        assert "log in" in error["message"].lower()
        assert "POST /api/auth/login" in error["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["'title'", "required"]),
        ({"title": 42}, ["Field 'title' must be text."]),
        ({"title": "x", "titel": "y"}, ["'titel'", "not something this endpoint takes"]),
        ({"title": "x", "metadata": ["not", "an", "object"]}, ["'metadata'"]),
        (
            {"title": "x", "metadata": {"genre": {"deep": 1}}},
            ["Field 'metadata.genre' must be one of: text, a number, true or false"],
        ),
        ({"title": "   "}, ["'title' must have words in it"]),
        ({"title": "x" * 201}, ["'title' must be at most 200 characters"]),
        ({"title": "bad\x1b[31m"}, ["control characters"]),
        ({"title": "x", "metadata": {"": "blank name"}}, ["'metadata' must have a name"]),
    ],
)
def test_422_bad_story_input(client: TestClient, login: Login, body: dict, words: list) -> None:
    alice = login("alice")
    response = client.post(START, json=body, headers=alice)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input"
    for word in words:
        assert word in error["message"], (word, error["message"])


def test_422_numbers_json_cannot_hold(client: TestClient, login: Login) -> None:
    alice = login("alice")
    response = client.post(
        START,
        content=b'{"title": "x", "metadata": {"odds": NaN}}',
        headers={**alice, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "'metadata.odds' must be one of" in error_of(response)["message"]
    assert "NaN and Infinity" in error_of(response)["message"]


def test_422_body_that_is_not_json(client: TestClient, login: Login) -> None:
    alice = login("alice")
    response = client.post(
        START, content=b"{title: oops", headers={**alice, "content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in error_of(response)["message"]
    undecodable = client.post(
        START,
        content=b'{"title": "\xff\xfe"}',
        headers={**alice, "content-type": "application/json"},
    )
    assert undecodable.status_code == 422
    assert "could not be read" in error_of(undecodable)["message"]
    missing = client.post(START, headers=alice)
    assert missing.status_code == 422
    assert "needs a JSON body" in error_of(missing)["message"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"status": "finished"}, "'status' must be 'active', 'paused', 'completed' or 'all'"),
        ({"limit": 0}, "'limit' must be 1 or more"),
        ({"limit": 501}, "'limit' must be 500 or less"),
        ({"limit": "many"}, "'limit'"),
        ({"cursor": "!!!"}, "'cursor' is not a cursor this server handed out"),
    ],
)
def test_422_bad_listing_queries(
    client: TestClient, login: Login, params: dict, words: str
) -> None:
    alice = login("alice")
    response = client.get(SESSIONS, params=params, headers=alice)
    assert response.status_code == 422
    assert words in error_of(response)["message"]


def test_422_bad_part_paging(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = client.post(START, json={"title": "T"}, headers=alice).json()["id"]
    for params in ({"limit": 0}, {"limit": 1000}, {"before": 0}, {"before": "x"}):
        response = client.get(f"{SESSIONS}/{sid}", params=params, headers=alice)
        assert response.status_code == 422, params
        assert error_of(response)["code"] == "invalid_input"


def test_404_for_unknown_routes_and_405_for_wrong_methods(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert "/docs" in error_of(response)["message"]
    wrong = client.put(SESSIONS)
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"


def test_503_when_the_database_is_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://storyterm@127.0.0.1:{free_port()}/nothing"
    runtime = Runtime(load_settings(database_url=url, redis_url=""))
    app = create_app(runtime)
    with TestClient(app) as client:
        response = client.get(SESSIONS, headers={"Authorization": "Bearer whatever"})
        assert response.status_code == 503
        error = error_of(response)
        assert error["code"] == "database_unavailable"
        assert "Cannot open the database" in error["message"]
        assert "Traceback" not in response.text
    runtime.close()


def test_500_is_generic_and_logged(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    app.add_api_route("/api/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/api/explode")
    assert response.status_code == 500
    error = error_of(response)
    assert error == {"code": "internal", "message": INTERNAL_MESSAGE}
    assert "secret internals" not in response.text
    assert any(
        r.name == "storyterm.api" and r.exc_info and "secret internals" in str(r.exc_info[1])
        for r in caplog.records
    )
