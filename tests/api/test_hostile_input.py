"""Hostile and careless input over HTTP: each gets a 422 naming the field (never a 500, never a
stored row), on SQLite and on PostgreSQL, and the account keeps working afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings
from tests.api.conftest import Login

SESSIONS = "/api/langchain/sessions"
START = "/api/langchain/story/start"
LOGIN = "/api/auth/login"


@pytest.fixture
def runtime(database_url: str, redis_url: str) -> Iterator[Runtime]:
    """The API over SQLite and over PostgreSQL (each test here runs on both)."""
    rt = Runtime(load_settings(database_url=database_url, redis_url=redis_url))
    yield rt
    rt.close()


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


#: (JSON text of the body, what the message must name). Written as JSON text: a lone surrogate
#: only exists as the escape "\ud800", which Python's JSON reader turns into half a character.
BAD_STARTS = [
    (r'{"title": "a\ud800"}', "'title'"),
    (r'{"title": "\udfff"}', "'title'"),
    (r'{"title": "ok", "metadata": {"genre": "a\ud800"}}', "'metadata.genre'"),
    (r'{"title": "ok", "metadata": {"genre": ["fine", "a\udc00"]}}', "'metadata.genre.1'"),
    (r'{"title": "ok", "metadata": {"a\ud800": "x"}}', "'metadata'"),
    (r'{"title": "ok", "metadata": {"a\ud800": {"deep": 1}}}', "'metadata."),
    (
        r'{"title": "ok", "metadata": {"genre": "a\u0000b"}}',
        "'metadata.genre' must not contain NUL",
    ),
    (r'{"title": "ok", "metadata": {"a\u0000": "x"}}', "'metadata' must have a name"),
    (r'{"title": "ok", "model": "a\ud800"}', "'model'"),
    (r'{"title": "ok", "model": "x\u0000"}', "'model' must be an Ollama model name"),
    ('{"title": "ok", "model": "' + "m" * 300 + '"}', "'model' must be at most 200 characters"),
    (r'{"title": "bad\u001b]0;pwned\u0007"}', "'title' must have words in it"),
    (r'{"title": "\u202eevil"}', "'title' must have words in it"),
    (r'{"title": "a\u0000b"}', "'title' must have words in it"),
    (r'{"title": "ok", "\ud800": 1}', "lone surrogate"),
]


@pytest.mark.parametrize(("body", "named"), BAD_STARTS)
def test_start_refuses_what_cannot_be_stored(
    client: TestClient, login: Login, body: str, named: str
) -> None:
    alice = login("alice")
    response = client.post(
        START, content=body.encode(), headers={**alice, "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert named in error["message"], error["message"]
    # Nothing was stored, and the account's listing, reading and export all still work.
    listing = client.get(SESSIONS, headers=alice)
    assert listing.status_code == 200 and listing.json()["items"] == []
    sid = client.post(START, json={"title": "After"}, headers=alice).json()["id"]
    assert client.get(f"{SESSIONS}/{sid}", headers=alice).status_code == 200
    assert client.post(f"{SESSIONS}/{sid}/save", headers=alice).status_code == 200


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (r'{"username": "a\ud800", "password": "correct horse battery"}', "'username'"),
        (r'{"username": "alice", "password": "\ud800\udbff"}', "'password'"),
        (r'{"username": "al\u0000ice", "password": "correct horse battery"}', "'username'"),
        (r'{"username": "", "password": "x"}', "'username' must not be empty"),
        (r'{"username": "alice", "password": ""}', "'password' must not be empty"),
        ('{"username": "' + "a" * 65 + '", "password": "x"}', "'username' must be at most 64"),
    ],
)
def test_login_refuses_broken_text(client: TestClient, login: Login, body: str, named: str) -> None:
    login("alice")
    response = client.post(
        LOGIN, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert named in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (r'{"direction": "a\ud800"}', "'direction'"),
        (r'{"direction": "a\u0000"}', "'direction' must not contain NUL"),
        (r'{"regenerate": 0}', "'regenerate' must be true or false"),
        (r'{"regenerate": "true"}', "'regenerate' must be true or false"),
    ],
)
def test_continue_refuses_broken_text(
    client: TestClient, login: Login, body: str, named: str
) -> None:
    alice = login("alice")
    sid = client.post(START, json={"title": "T"}, headers=alice).json()["id"]
    response = client.post(
        f"/api/langchain/story/{sid}/continue",
        content=body.encode(),
        headers={**alice, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert named in error_of(response)["message"]
    assert client.get(f"{SESSIONS}/{sid}", headers=alice).json()["parts"] == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"before": 10**30}, "'before' must be 2147483647 or less"),
        ({"before": 2**63}, "'before' must be 2147483647 or less"),
        ({"before": -1}, "'before' must be 1 or more"),
        ({"before": "1e3"}, "'before'"),
        ({"limit": 10**30}, "'limit' must be 40 or less"),
    ],
)
def test_part_paging_out_of_range(
    client: TestClient, login: Login, params: dict[str, Any], named: str
) -> None:
    alice = login("alice")
    sid = client.post(START, json={"title": "T"}, headers=alice).json()["id"]
    response = client.get(f"{SESSIONS}/{sid}", params=params, headers=alice)
    assert response.status_code == 422, response.text
    assert named in error_of(response)["message"]


def test_the_largest_before_there_can_be_is_fine(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = client.post(START, json={"title": "T"}, headers=alice).json()["id"]
    response = client.get(f"{SESSIONS}/{sid}", params={"before": 2**31 - 1}, headers=alice)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "",
        "OTk5OS0xMi0zMVQyMzo1OTo1OS0wNTowMHx4",  # base64 of "9999-12-31T23:59:59-05:00|x"
        "AAAA",
        "99999999999999999_abc",  # 17 digits: past the year 2286
        "1_ABC",
        "1_abc\x00",
        "1_" + "a" * 37,
        "é",
        "1" * 10_000,
    ],
)
def test_listing_cursors_out_of_range(client: TestClient, login: Login, cursor: str) -> None:
    alice = login("alice")
    response = client.get(SESSIONS, params={"cursor": cursor}, headers=alice)
    assert response.status_code == 422, response.text
    assert "Query parameter 'cursor'" in error_of(response)["message"]


def test_every_cursor_of_the_documented_shape_is_taken(client: TestClient, login: Login) -> None:
    alice = login("alice")
    for title in ("One", "Two", "Three"):
        client.post(START, json={"title": title}, headers=alice)
    first = client.get(SESSIONS, params={"limit": 2}, headers=alice).json()
    rest = client.get(SESSIONS, params={"cursor": first["next_cursor"]}, headers=alice).json()
    titles = [s["title"] for s in first["items"] + rest["items"]]
    assert sorted(titles) == ["One", "Three", "Two"]
    for cursor in ("0_0", "-9999999999999999_-", "9999999999999999_ffffffff"):
        assert client.get(SESSIONS, params={"cursor": cursor}, headers=alice).status_code == 200


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"search": "a\x00"}, "'search' must not contain NUL"),
        ({"status": "ACTIVE "}, "'status' must be"),
        ({"limit": -(10**30)}, "'limit' must be 1 or more"),
    ],
)
def test_listing_queries_out_of_range(
    client: TestClient, login: Login, params: dict[str, Any], named: str
) -> None:
    alice = login("alice")
    response = client.get(SESSIONS, params=params, headers=alice)
    assert response.status_code == 422, response.text
    assert named in error_of(response)["message"]


def test_a_nul_in_a_session_id_is_refused(client: TestClient, login: Login) -> None:
    alice = login("alice")
    for method, url in [
        ("GET", f"{SESSIONS}/a%00b"),
        ("POST", f"{SESSIONS}/a%00b/pause"),
        ("DELETE", f"{SESSIONS}/a%00b"),
    ]:
        response = client.request(method, url, headers=alice)
        assert response.status_code == 422, (method, url, response.text)
        assert "'session_id' must not contain NUL" in error_of(response)["message"]


def test_an_error_that_quotes_a_broken_key_still_encodes(client: TestClient, login: Login) -> None:
    """A validation error names the field; a field whose name holds a lone surrogate must not
    make the error answer itself unencodable (that was a 500)."""
    alice = login("alice")
    body = r'{"title": "ok", "metadata": {"x\ud800y": {"nested": true}}}'
    response = client.post(
        START, content=body.encode(), headers={**alice, "content-type": "application/json"}
    )
    assert response.status_code == 422
    response.content.decode("utf-8")  # strict: the answer is valid UTF-8
    assert "'metadata." in error_of(response)["message"]
