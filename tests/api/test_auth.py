"""Logging in and out over HTTP with the same accounts as the app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from storyterm.core.identity.accounts import LOCK_AFTER
from storyterm.core.runtime import Runtime
from tests.api.conftest import PASSWORD, Login, login_headers

LOGIN = "/api/auth/login"
LOGOUT = "/api/auth/logout"
SESSIONS = "/api/langchain/sessions"


def test_login_gives_a_token_that_works(client: TestClient, runtime: Runtime) -> None:
    runtime.identity.register("Alice", PASSWORD)
    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "token_type", "username"}
    assert body["token_type"] == "bearer" and body["username"] == "Alice"
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(SESSIONS, headers=headers).status_code == 200
    # The same token the app would verify.
    assert runtime.identity.verify(body["token"]).username == "Alice"


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.identity.register("alice", PASSWORD)
    wrong = client.post(LOGIN, json={"username": "alice", "password": "not the password"})
    nobody = client.post(LOGIN, json={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert wrong.json()["error"]["code"] == "auth"
    assert wrong.headers["www-authenticate"] == "Bearer"


def test_too_many_wrong_passwords_answer_429_with_retry_after(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.identity.register("alice", PASSWORD)
    for _ in range(LOCK_AFTER):
        client.post(LOGIN, json={"username": "alice", "password": "guess guess"})
    locked = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) > 0
    assert "www-authenticate" not in locked.headers


def test_login_input_is_checked(client: TestClient) -> None:
    missing = client.post(LOGIN, json={"username": "alice"})
    assert missing.status_code == 422
    assert "'password' is required" in missing.json()["error"]["message"]
    blank = client.post(LOGIN, json={"username": "  ", "password": PASSWORD})
    assert blank.status_code == 422
    assert "Field 'username' must be 1 to 64 letters, digits" in blank.json()["error"]["message"]


def test_logout_revokes_the_token(client: TestClient, login: Login) -> None:
    alice = login("alice")
    other_login = login_headers(client, "alice")
    assert client.post(LOGOUT, headers=alice).status_code == 204
    refused = client.get(SESSIONS, headers=alice)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"
    assert "Log in again: POST /api/auth/login" in refused.json()["error"]["message"]
    # Logging out again with the dead token is refused; another login is unaffected.
    assert client.post(LOGOUT, headers=alice).status_code == 401
    assert client.get(SESSIONS, headers=other_login).status_code == 200
    assert client.post(LOGOUT).status_code == 401


def test_an_unknown_username_locks_and_answers_like_a_known_one(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.identity.register("alice", PASSWORD)
    for _ in range(LOCK_AFTER):
        wrong = client.post(LOGIN, json={"username": "alice", "password": "guess guess"})
        nobody = client.post(LOGIN, json={"username": "nobody", "password": "guess guess"})
        assert (wrong.status_code, wrong.json()) == (nobody.status_code, nobody.json())
    locked = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": PASSWORD})
    assert locked.status_code == unknown.status_code == 429
    assert locked.json() == unknown.json()
    assert locked.headers["retry-after"] == unknown.headers["retry-after"]


def test_characters_no_database_can_store_get_a_422_naming_the_field(client: TestClient) -> None:
    for body, field in (
        ('{"username": "al\\u0000ice", "password": "a long password"}', "username"),
        ('{"username": "alice\\ud800", "password": "a long password"}', "username"),
        ('{"username": "alice", "password": "a long\\udfff password"}', "password"),
    ):
        response = client.post(LOGIN, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["error"]["message"].lower(), response.text
