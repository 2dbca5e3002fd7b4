"""A story's bible, author's note and instructions over HTTP: read (the default instructions
until set), changed (null resets, fields left out stay), bad values refused in the API's error
shape with nothing changed, another writer's story not found, and the steering reaches Ollama."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.core.memory.steering import DEFAULT_INSTRUCTIONS
from storyterm.devtools.fake_ollama import FakeOllama
from tests.api.conftest import Login
from tests.api.test_continue import continue_url, start

SESSIONS = "/api/langchain/sessions"
NOTE = "tense, rain, Mara is lying"


def bible_url(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/bible"


def test_get_shows_the_bible_and_the_default_instructions(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice, metadata={"genre": "mystery"})
    response = client.get(bible_url(sid), headers=alice)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "session_id": sid,
        "title": "The Keeper's Letter",
        "metadata": {"genre": "mystery"},
        "note": "",
        "note_depth": 3,
        "instructions": DEFAULT_INSTRUCTIONS,
        "instructions_default": True,
    }
    assert client.get(bible_url(sid), headers=login("bob")).status_code == 404


def test_patch_sets_keeps_the_rest_and_null_resets(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice, metadata={"genre": "mystery", "tone": "dark"})
    first = client.patch(
        bible_url(sid),
        json={
            "metadata": {"premise": "A letter forty years late.", "tone": None},
            "note": NOTE,
            "note_depth": 1,
            "instructions": "Write like a ship's log.",
        },
        headers=alice,
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["metadata"] == {"genre": "mystery", "premise": "A letter forty years late."}
    assert (body["note"], body["note_depth"]) == (NOTE, 1)
    assert (body["instructions"], body["instructions_default"]) == (
        "Write like a ship's log.",
        False,
    )

    second = client.patch(bible_url(sid), json={"instructions": None}, headers=alice)
    assert second.status_code == 200, second.text
    body = client.get(bible_url(sid), headers=alice).json()
    assert (body["instructions"], body["instructions_default"]) == (DEFAULT_INSTRUCTIONS, True)
    assert (body["note"], body["note_depth"]) == (NOTE, 1)  # left out: kept
    # The session itself shows the changed bible too.
    assert (
        client.get(f"{SESSIONS}/{sid}", headers=alice).json()["session"]["metadata"]
        == (body["metadata"])
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"note_depth": 51}, "'note_depth'"),
        ({"note_depth": "2"}, "'note_depth'"),
        ({"note": "x" * 4001}, "'note'"),
        ({"note": "rain\u0000"}, "must not contain NUL"),
        ({"instructions": "x" * 20_001}, "'instructions'"),
        ({"instructions": 5}, "'instructions'"),
        ({"metadata": {"premise": "x" * 20_001}}, "'metadata.premise'"),
        ({"metadata": {" ": "x"}}, "must have a name"),
        ({"depth": 2}, "'depth' is not something this endpoint takes"),
    ],
)
def test_bad_values_are_a_422_and_change_nothing(
    client: TestClient, login: Login, body: dict[str, Any], said: str
) -> None:
    alice = login("alice")
    sid = start(client, alice, metadata={"genre": "mystery"})
    before = client.get(bible_url(sid), headers=alice).json()
    refused = client.patch(bible_url(sid), json={"note": "kept?", **body}, headers=alice)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_input" and said in error["message"], error
    assert client.get(bible_url(sid), headers=alice).json() == before


def test_a_completed_story_is_a_409(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    client.post(f"{SESSIONS}/{sid}/complete", headers=alice)
    refused = client.patch(bible_url(sid), json={"note": NOTE}, headers=alice)
    assert refused.status_code == 409
    assert "Reopen it" in refused.json()["error"]["message"]


def test_the_note_and_instructions_reach_ollama(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3")
    client.patch(
        bible_url(sid),
        json={"note": NOTE, "note_depth": 0, "instructions": "Be terse."},
        headers=alice,
    )
    response = client.post(continue_url(sid), json={"direction": "Mara opens it"}, headers=alice)
    assert response.status_code == 200
    messages = [(m["role"], m["content"]) for m in fake_ollama.chat_requests[-1].messages]
    assert messages[0][0] == "system" and messages[0][1].startswith("Be terse.")
    assert messages[-1] == ("user", "Mara opens it")
    assert NOTE in messages[-2][1]
