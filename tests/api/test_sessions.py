"""Sessions over HTTP: start, list, read, status moves, delete, and who may see what."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.core.runtime import Runtime
from tests.api.conftest import Login

SESSIONS = "/api/langchain/sessions"
START = "/api/langchain/story/start"


def start(client: TestClient, headers: dict[str, str], title: str, **extra: Any) -> dict:
    response = client.post(START, json={"title": title, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_start_returns_the_public_session(client: TestClient, login: Login) -> None:
    alice = login("alice")
    body = start(
        client,
        alice,
        "  The Keeper's Letter ",
        metadata={"genre": "mystery", "characters": ["Mara", "Ilse"], "tone": None},
        model="gemma3:latest",
    )
    assert body["title"] == "The Keeper's Letter"
    assert body["status"] == "active"
    assert body["model_name"] == "gemma3:latest"
    assert body["metadata"] == {"genre": "mystery", "characters": ["Mara", "Ilse"]}
    assert body["part_count"] == 0
    # Nothing internal leaks: no owner id, no story memory.
    assert "user_id" not in body and "memory" not in body and "session_metadata" not in body


def test_listing_pages_filters_and_searches(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    ids = [start(client, alice, f"Story {n}")["id"] for n in range(5)]
    client.post(f"{SESSIONS}/{ids[0]}/pause", headers=alice)

    first = client.get(SESSIONS, params={"limit": 2}, headers=alice).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen = [s["id"] for s in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(SESSIONS, params={"limit": 2, "cursor": cursor}, headers=alice).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5

    paused = client.get(SESSIONS, params={"status": "paused"}, headers=alice).json()
    assert [s["id"] for s in paused["items"]] == [ids[0]]
    found = client.get(SESSIONS, params={"search": "ory 3"}, headers=alice).json()
    assert [s["title"] for s in found["items"]] == ["Story 3"]
    everything = client.get(SESSIONS, params={"status": "all"}, headers=alice).json()
    assert len(everything["items"]) == 5


def test_reading_a_session_pages_parts_from_the_end(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    session = start(client, alice, "Salt Roads")
    owner = _owner_id(runtime, session["id"])
    for n in range(1, 13):
        runtime.sessions.append_part(
            owner, session["id"], direction=f"step {n}", content=f"Part {n} words here."
        )

    newest = client.get(f"{SESSIONS}/{session['id']}", params={"limit": 5}, headers=alice)
    assert newest.status_code == 200
    body = newest.json()
    assert body["session"]["part_count"] == 12
    assert [p["seq"] for p in body["parts"]] == [8, 9, 10, 11, 12]
    assert body["parts"][0]["content"] == "Part 8 words here."
    assert body["parts"][0]["state"] == "done"
    assert body["has_more_before"] is True and body["next_before"] == 8

    seqs = [p["seq"] for p in body["parts"]]
    before = body["next_before"]
    while before:
        page = client.get(
            f"{SESSIONS}/{session['id']}", params={"limit": 5, "before": before}, headers=alice
        ).json()
        seqs = [p["seq"] for p in page["parts"]] + seqs
        before = page["next_before"]
    assert seqs == list(range(1, 13))


def test_status_moves_and_the_409s(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice, "Winter Orchard")["id"]

    resumed_active = client.post(f"{SESSIONS}/{sid}/resume", headers=alice)
    assert resumed_active.status_code == 409
    assert resumed_active.json()["error"]["code"] == "invalid_transition"

    paused = client.post(f"{SESSIONS}/{sid}/pause", headers=alice)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["paused_at"]
    again = client.post(f"{SESSIONS}/{sid}/pause", headers=alice)
    assert again.status_code == 409
    assert "paused" in again.json()["error"]["message"]

    resumed = client.post(f"{SESSIONS}/{sid}/resume", headers=alice)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"

    done = client.post(f"{SESSIONS}/{sid}/complete", headers=alice)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    for move in ("pause", "resume", "complete"):
        refused = client.post(f"{SESSIONS}/{sid}/{move}", headers=alice)
        assert refused.status_code == 409, move
        assert "read-only" in refused.json()["error"]["message"]


def test_delete_removes_the_session(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice, "Glass Cartographer")["id"]
    deleted = client.delete(f"{SESSIONS}/{sid}", headers=alice)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = client.get(f"{SESSIONS}/{sid}", headers=alice)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert client.delete(f"{SESSIONS}/{sid}", headers=alice).status_code == 404


ENDPOINTS = [
    ("GET", "{sid}", None),
    ("POST", "{sid}/pause", None),
    ("POST", "{sid}/resume", None),
    ("POST", "{sid}/complete", None),
    ("DELETE", "{sid}", None),
    ("POST", "{sid}/save", {"formats": ["md"]}),
    ("GET", "{sid}/options", None),
    ("PATCH", "{sid}/options", {"temperature": 1.0}),
    ("POST", "/api/langchain/story/{sid}/continue", {"direction": "steal it"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_another_writers_session_is_not_found_exactly_like_a_missing_one(
    client: TestClient, login: Login, method: str, path: str, body: Any
) -> None:
    alice, bob = login("alice"), login("bob")
    sid = start(client, alice, "Alice's secret")["id"]
    url = path.format(sid=sid) if path.startswith("/") else f"{SESSIONS}/{path.format(sid=sid)}"

    as_bob = client.request(method, url, headers=bob, json=body)
    assert as_bob.status_code == 404
    # Alice's session is untouched, and absent from Bob's listing.
    assert client.get(f"{SESSIONS}/{sid}", headers=alice).json()["session"]["status"] == "active"
    assert client.get(SESSIONS, headers=bob).json()["items"] == []

    client.delete(f"{SESSIONS}/{sid}", params={"forever": "true"}, headers=alice)
    missing = client.request(method, url, headers=alice, json=body)
    assert missing.status_code == 404
    assert as_bob.json() == missing.json()
    assert as_bob.headers.get("content-type") == missing.headers.get("content-type")


def _owner_id(runtime: Runtime, session_id: str) -> int:
    import sqlalchemy as sa

    from storyterm.core.storage.tables import StorySession

    table = StorySession.__table__  # type: ignore[attr-defined]
    with runtime.store.engine.connect() as conn:
        return conn.execute(sa.select(table.c.user_id).where(table.c.id == session_id)).scalar_one()
