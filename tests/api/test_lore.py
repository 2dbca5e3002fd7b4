"""A story's lorebook over HTTP: list, add, change, delete and restore; bad entries refused in
the API's error shape; another writer's story is a 404; the entries reach the model's prompt."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.devtools.fake_ollama import FakeOllama
from tests.api.conftest import Login
from tests.api.test_continue import continue_url, start

SESSIONS = "/api/langchain/sessions"


def lore_url(session_id: str, entry: int | None = None) -> str:
    return f"{SESSIONS}/{session_id}/lore" + (f"/{entry}" if entry is not None else "")


MARA = {"name": "Mara", "keys": ["Mara", "the keeper"], "content": "Keeps the light."}


def test_add_list_change_delete_and_restore(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    added = client.post(lore_url(sid), json={**MARA, "priority": 4}, headers=alice)
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["keys"] == ["Mara", "the keeper"] and entry["priority"] == 4
    assert entry["enabled"] and not entry["always_on"] and entry["last_prompt"] is None

    book = client.get(lore_url(sid), headers=alice).json()
    assert book["scan_depth"] == 4 and book["share"] == 0.15
    assert [e["name"] for e in book["entries"]] == ["Mara"]

    changed = client.patch(lore_url(sid, entry["id"]), json={"enabled": False}, headers=alice)
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False and changed.json()["content"] == "Keeps the light."

    deleted = client.delete(lore_url(sid, entry["id"]), headers=alice)
    assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
    assert client.get(lore_url(sid), headers=alice).json()["entries"] == []
    restored = client.post(lore_url(sid, entry["id"]) + "/restore", headers=alice)
    assert restored.status_code == 200, restored.text
    again = client.post(lore_url(sid, entry["id"]) + "/restore", headers=alice)
    assert again.status_code == 409 and "nothing to bring back" in again.json()["error"]["message"]
    assert [e["name"] for e in client.get(lore_url(sid), headers=alice).json()["entries"]] == [
        "Mara"
    ]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({**MARA, "keys": ["(x"], "regex": True}, "not a valid regular expression"),
        ({**MARA, "name": "  "}, "'name'"),
        ({**MARA, "content": "x" * 10_001}, "'content'"),
        ({**MARA, "priority": 1001}, "'priority'"),
        ({**MARA, "colour": "red"}, "'colour' is not something this endpoint takes"),
        ({**MARA, "keys": ["a\x1b[2J"]}, "control characters"),
    ],
)
def test_bad_entries_are_a_422_and_nothing_is_saved(
    client: TestClient, login: Login, body: dict[str, Any], said: str
) -> None:
    alice = login("alice")
    sid = start(client, alice)
    refused = client.post(lore_url(sid), json=body, headers=alice)
    assert refused.status_code == 422, refused.text
    assert said in refused.json()["error"]["message"]
    assert client.get(lore_url(sid), headers=alice).json()["entries"] == []


def test_keys_that_do_not_fit_a_regex_entry_are_a_409(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    entry = client.post(
        lore_url(sid), json={**MARA, "keys": ["ma+ra"], "regex": True}, headers=alice
    )
    assert entry.status_code == 201, entry.text
    refused = client.patch(lore_url(sid, entry.json()["id"]), json={"keys": ["(x"]}, headers=alice)
    assert refused.status_code == 409, refused.text
    assert "not a valid regular expression" in refused.json()["error"]["message"]


def test_a_full_lorebook_is_a_409_and_keeps_its_entries(
    client: TestClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storyterm.core.storage.lore.MAX_ENTRIES", 2)
    alice = login("alice")
    sid = start(client, alice)
    for name in ("Mara", "Ilse"):
        assert client.post(lore_url(sid), json={**MARA, "name": name}, headers=alice).is_success
    refused = client.post(lore_url(sid), json={**MARA, "name": "Wren"}, headers=alice)
    assert refused.status_code == 409, refused.text
    assert "the most a story can hold" in refused.json()["error"]["message"]
    entries = client.get(lore_url(sid), headers=alice).json()["entries"]
    assert [e["name"] for e in entries] == ["Mara", "Ilse"]


def test_another_writers_lorebook_is_a_404(client: TestClient, login: Login) -> None:
    alice, bob = login("alice"), login("bob")
    sid = start(client, alice)
    entry = client.post(lore_url(sid), json=MARA, headers=alice).json()
    for method, url, body in (
        ("GET", lore_url(sid), None),
        ("POST", lore_url(sid), MARA),
        ("PATCH", lore_url(sid, entry["id"]), {"priority": 9}),
        ("DELETE", lore_url(sid, entry["id"]), None),
        ("POST", lore_url(sid, entry["id"]) + "/restore", None),
    ):
        response = client.request(method, url, json=body, headers=bob)
        assert response.status_code == 404, (method, url, response.text)
    [kept] = client.get(lore_url(sid), headers=alice).json()["entries"]
    assert kept["priority"] == 0
    assert client.patch(lore_url(sid, 999), json={"priority": 1}, headers=alice).status_code == 404


def test_the_entries_reach_the_prompt_and_the_listing_says_which_were_used(
    client: TestClient, login: Login, fake_ollama: FakeOllama
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3:latest")
    used = client.post(lore_url(sid), json=MARA, headers=alice).json()
    other = {"name": "Zeppelin", "keys": ["zeppelin"], "content": "It never lands."}
    unused = client.post(lore_url(sid), json=other, headers=alice).json()
    with client.stream(
        "POST", continue_url(sid), json={"direction": "Mara climbs"}, headers=alice
    ) as reply:
        assert reply.status_code == 200
        "".join(reply.iter_text())
    system = fake_ollama.chat_requests[-1].messages[0]["content"]
    assert "## Mara\nKeeps the light." in system and "Zeppelin" not in system
    marks = {
        e["id"]: e["last_prompt"]
        for e in client.get(lore_url(sid), headers=alice).json()["entries"]
    }
    assert marks == {used["id"]: "used", unused["id"]: None}
