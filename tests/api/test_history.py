"""Takes, undo and the trash over HTTP: each endpoint as a client uses it, 404 for anything of
another writer (exactly like a missing one), 409 for a move the story cannot take now."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.core.basics import PartState, TakeKind
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from tests.api.conftest import Login
from tests.api.test_continue import parse_sse

API = "/api/langchain"
SESSIONS = f"{API}/sessions"


def story(client: TestClient, runtime: Runtime, headers: dict[str, str], *texts: str) -> str:
    """A story of the logged-in writer with these parts; part 2 (if any) has a second take."""
    response = client.post(f"{API}/story/start", json={"title": "Salt Roads"}, headers=headers)
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    user = _user(runtime, sid)
    for n, text in enumerate(texts, start=1):
        runtime.sessions.append_part(user, sid, direction=f"step {n}", content=text)
    if len(texts) >= 2:
        runtime.history.history.takes.new_take(
            user, sid, 2, kind=TakeKind.GENERATED, content="", state=PartState.STREAMING
        )
        runtime.sessions.checkpoint_part(user, sid, 2, "The road bent north.", state=PartState.DONE)
    return sid


def _user(runtime: Runtime, session_id: str) -> int:
    import sqlalchemy as sa

    from storyterm.core.storage.statements import sessions_t

    with runtime.store.engine.connect() as conn:
        query = sa.select(sessions_t.c.user_id).where(sessions_t.c.id == session_id)
        return int(conn.execute(query).scalar_one())


def contents(client: TestClient, headers: dict[str, str], sid: str) -> list[str]:
    response = client.get(f"{SESSIONS}/{sid}", headers=headers)
    assert response.status_code == 200, response.text
    return [p["content"] for p in response.json()["parts"]]


def error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code and message in body["message"], body


# -- takes -----------------------------------------------------------------------------------


def test_list_choose_and_edit_takes(client: TestClient, runtime: Runtime, login: Login) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "They left at dawn.", "The road ran west.")
    listed = client.get(f"{SESSIONS}/{sid}/parts/2/versions", headers=alice)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["session_id"], body["seq"], body["chosen"]) == (sid, 2, 2)
    assert [(v["number"], v["kind"], v["chosen"], v["content"]) for v in body["versions"]] == [
        (1, "generated", False, "The road ran west."),
        (2, "generated", True, "The road bent north."),
    ]

    chosen = client.post(f"{SESSIONS}/{sid}/parts/2/versions/1/choose", headers=alice)
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["take"], chosen.json()["content"]) == (1, "The road ran west.")
    assert contents(client, alice, sid)[1] == "The road ran west."

    edited = client.post(
        f"{SESSIONS}/{sid}/parts/1/versions",
        json={"content": "They left before dawn.", "direction": "earlier"},
        headers=alice,
    )
    assert edited.status_code == 201, edited.text
    part = edited.json()
    assert (part["take"], part["takes"], part["take_kind"], part["take_from"]) == (
        2,
        2,
        "edited",
        1,
    )
    assert (part["content"], part["direction"]) == ("They left before dawn.", "earlier")
    same = client.post(
        f"{SESSIONS}/{sid}/parts/1/versions",
        json={"content": "They left before dawn."},
        headers=alice,
    )
    assert same.status_code == 200 and same.json()["takes"] == 2
    nothing = client.post(f"{SESSIONS}/{sid}/parts/1/versions", json={}, headers=alice)
    assert nothing.status_code == 200 and nothing.json()["take"] == 2


def test_bad_takes_are_refused(client: TestClient, runtime: Runtime, login: Login) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.")
    versions = f"{SESSIONS}/{sid}/parts/2/versions"
    error(client.post(f"{versions}/3/choose", headers=alice), 404, "not_found", "no take 3")
    error(
        client.get(f"{SESSIONS}/{sid}/parts/9/versions", headers=alice),
        404,
        "not_found",
        "no part 9",
    )
    error(
        client.get(f"{SESSIONS}/{sid}/parts/0/versions", headers=alice),
        422,
        "invalid_input",
        "'seq' must be 1 or more",
    )
    error(
        client.get(f"{SESSIONS}/{sid}/parts/2147483648/versions", headers=alice),
        422,
        "invalid_input",
        "must be 2147483647 or less",
    )
    error(
        client.post(versions, json={"content": "a\u0000b"}, headers=alice),
        422,
        "invalid_input",
        "NUL",
    )
    error(
        client.post(versions, json={"text": "x"}, headers=alice),
        422,
        "invalid_input",
        "'text' is not something",
    )
    error(
        client.post(versions, json={"content": 5}, headers=alice),
        422,
        "invalid_input",
        "must be text",
    )
    # A completed story's parts are read-only: 409, until it is reopened.
    client.post(f"{SESSIONS}/{sid}/complete", headers=alice)
    error(
        client.post(f"{versions}/1/choose", headers=alice), 409, "invalid_transition", "read-only"
    )
    error(
        client.post(versions, json={"content": "New."}, headers=alice),
        409,
        "invalid_transition",
        "read-only",
    )
    reopened = client.post(f"{SESSIONS}/{sid}/reopen", headers=alice)
    assert reopened.status_code == 200 and reopened.json()["status"] == "active"
    error(
        client.post(f"{SESSIONS}/{sid}/reopen", headers=alice),
        409,
        "invalid_transition",
        "not completed",
    )
    assert client.post(f"{versions}/1/choose", headers=alice).status_code == 200


def test_a_part_being_written_cannot_be_changed(
    client: TestClient, runtime: Runtime, login: Login
) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.")
    runtime.sessions.begin_part(_user(runtime, sid), sid, direction="go", model_name="m")
    error(
        client.post(f"{SESSIONS}/{sid}/parts/3/versions", json={"content": "x"}, headers=alice),
        409,
        "invalid_transition",
        "still being written",
    )
    error(
        client.delete(f"{SESSIONS}/{sid}/parts/3", headers=alice), 409, "conflict", "being written"
    )
    error(client.delete(f"{SESSIONS}/{sid}", headers=alice), 409, "conflict", "being written")


# -- undo, redo ------------------------------------------------------------------------------


def test_undo_and_redo(client: TestClient, runtime: Runtime, login: Login) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.")
    client.post(f"{SESSIONS}/{sid}/parts/2/versions/1/choose", headers=alice)
    undone = client.post(f"{SESSIONS}/{sid}/undo", headers=alice)
    assert undone.status_code == 200, undone.text
    assert undone.json()["message"] == "Part 2 shows take 2 again."
    assert undone.json()["session"]["id"] == sid
    assert contents(client, alice, sid)[1] == "The road bent north."
    redone = client.post(f"{SESSIONS}/{sid}/redo", headers=alice)
    assert redone.json()["message"] == "Part 2 shows take 1 again."
    error(
        client.post(f"{SESSIONS}/{sid}/redo", headers=alice),
        409,
        "invalid_transition",
        "nothing to redo",
    )
    # Undo reaches into the trash: a deleted story comes back.
    client.delete(f"{SESSIONS}/{sid}", headers=alice)
    back = client.post(f"{SESSIONS}/{sid}/undo", headers=alice)
    assert back.json()["message"] == "The story is back from the trash."
    assert back.json()["session"]["deleted_at"] is None
    again = client.post(f"{SESSIONS}/{sid}/redo", headers=alice)
    assert again.json()["session"]["deleted_at"] is not None


# -- the trash -------------------------------------------------------------------------------


def test_a_story_goes_to_the_trash_and_comes_back(
    client: TestClient, runtime: Runtime, login: Login
) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.")
    assert client.delete(f"{SESSIONS}/{sid}", headers=alice).status_code == 204
    error(client.get(f"{SESSIONS}/{sid}", headers=alice), 404, "not_found", "is in the trash")
    assert client.get(SESSIONS, headers=alice).json()["items"] == []
    trash = client.get(f"{API}/trash", headers=alice).json()
    assert (trash["trash_days"], trash["parts"]) == (30, [])
    [entry] = trash["stories"]
    assert (entry["session_id"], entry["title"], entry["word_count"]) == (sid, "Salt Roads", 5)
    restored = client.post(f"{API}/trash/sessions/{sid}/restore", headers=alice)
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert contents(client, alice, sid) == ["One.", "The road bent north."]
    error(
        client.post(f"{API}/trash/sessions/{sid}/restore", headers=alice),
        409,
        "invalid_transition",
        "is not in the trash",
    )

    forever = client.delete(f"{SESSIONS}/{sid}", params={"forever": "true"}, headers=alice)
    assert forever.status_code == 204 and forever.content == b""
    error(client.get(f"{SESSIONS}/{sid}", headers=alice), 404, "not_found", "No story session")
    assert client.get(f"{API}/trash", headers=alice).json()["stories"] == []
    error(
        client.post(f"{API}/trash/sessions/{sid}/restore", headers=alice),
        404,
        "not_found",
        "No story session",
    )


def test_a_part_goes_to_the_trash_and_comes_back(
    client: TestClient, runtime: Runtime, login: Login
) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.", "Three.")
    gone = client.delete(f"{SESSIONS}/{sid}/parts/2", headers=alice)
    assert gone.status_code == 200, gone.text
    trash_id = gone.json()["trash_id"]
    assert gone.json()["session"]["part_count"] == 2
    assert contents(client, alice, sid) == ["One.", "Three."]
    trash = client.get(f"{API}/trash", headers=alice).json()
    [entry] = trash["parts"]
    assert trash["stories"] == []
    assert (entry["trash_id"], entry["session_id"], entry["seq"], entry["preview"]) == (
        trash_id,
        sid,
        2,
        "The road bent north.",
    )
    back = client.post(f"{API}/trash/parts/{trash_id}/restore", headers=alice)
    assert back.status_code == 200, back.text
    assert (back.json()["seq"], back.json()["takes"]) == (2, 2)
    assert contents(client, alice, sid) == ["One.", "The road bent north.", "Three."]
    error(
        client.post(f"{API}/trash/parts/{trash_id}/restore", headers=alice),
        404,
        "not_found",
        # The whole message: a core message names no command of the CLI's.
        f"Nothing in your trash has the number {trash_id}.",
    )
    assert (
        "storyterm"
        not in client.post(f"{API}/trash/parts/{trash_id}/restore", headers=alice).json()["error"][
            "message"
        ]
    )

    again = client.delete(f"{SESSIONS}/{sid}/parts/3", headers=alice).json()["trash_id"]
    assert client.delete(f"{API}/trash/parts/{again}", headers=alice).status_code == 204
    assert client.get(f"{API}/trash", headers=alice).json()["parts"] == []
    error(
        client.delete(f"{API}/trash/parts/{again}", headers=alice),
        404,
        "not_found",
        "Nothing in your trash",
    )


# -- another writer --------------------------------------------------------------------------

MOVES = [
    ("GET", "{s}/parts/1/versions", None),
    ("POST", "{s}/parts/2/versions/1/choose", None),
    ("POST", "{s}/parts/1/versions", {"content": "Mine now."}),
    ("DELETE", "{s}/parts/1", None),
    ("POST", "{s}/undo", None),
    ("POST", "{s}/redo", None),
    ("POST", "{s}/reopen", None),
    ("DELETE", "{s}?forever=true", None),
    ("POST", "/api/langchain/trash/sessions/{sid}/restore", None),
    ("POST", "/api/langchain/trash/parts/{trash}/restore", None),
    ("DELETE", "/api/langchain/trash/parts/{trash}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MOVES)
def test_another_writers_story_is_not_found_like_a_missing_one(
    client: TestClient, runtime: Runtime, login: Login, method: str, path: str, body: Any
) -> None:
    alice, bob = login("alice"), login("bob")
    sid = story(client, runtime, alice, "One.", "Two.", "Three.")
    trash = client.delete(f"{SESSIONS}/{sid}/parts/3", headers=alice).json()["trash_id"]
    if "trash/sessions" in path:
        client.delete(f"{SESSIONS}/{sid}", headers=alice)
    values = {"s": f"{SESSIONS}/{sid}", "sid": sid, "trash": trash}
    as_bob = client.request(method, path.format(**values), headers=bob, json=body)
    assert as_bob.status_code == 404, as_bob.text
    # Nothing of Alice's moved, and nothing shows in Bob's trash.
    assert client.get(f"{API}/trash", headers=bob).json() == {
        "stories": [],
        "parts": [],
        "trash_days": 30,
    }
    assert len(client.get(f"{API}/trash", headers=alice).json()["parts"]) == 1
    # A missing story, part or trash entry reads exactly the same.
    client.delete(f"{SESSIONS}/{sid}", params={"forever": "true"}, headers=alice)
    missing = client.request(method, path.format(**values), headers=alice, json=body)
    assert missing.status_code == 404
    assert as_bob.json() == missing.json()


# -- regenerate an older part --------------------------------------------------------------


def test_continue_regenerates_an_older_part(
    fake_ollama: FakeOllama, client: TestClient, runtime: Runtime, login: Login
) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.", "Three.")
    runtime.sessions.set_model(_user(runtime, sid), sid, "gemma3:latest")
    url = f"{API}/story/{sid}/continue"
    response = client.post(url, json={"regenerate": True, "part": 1}, headers=alice)
    assert response.status_code == 200, response.text
    event, done = parse_sse(response.text)[-1]
    assert event == "done" and (done["part"]["seq"], done["part"]["take"]) == (1, 2)
    versions = client.get(f"{SESSIONS}/{sid}/parts/1/versions", headers=alice).json()
    assert [v["content"] for v in versions["versions"]] == ["One.", done["part"]["content"]]
    assert contents(client, alice, sid)[0] == fake_ollama.chat_requests[-1].text_sent

    error(
        client.post(url, json={"part": 1}, headers=alice),
        409,
        "invalid_transition",
        "with `regenerate: true`",
    )
    # JSON's 9.0 is the number 9: the part is looked for (and is not there).
    error(
        client.post(url, json={"regenerate": True, "part": 9.0}, headers=alice),
        404,
        "not_found",
        "no part 9",
    )
    error(
        client.post(url, json={"regenerate": True, "part": 0}, headers=alice),
        422,
        "invalid_input",
        "'part' must be 1 or more",
    )


# -- finish an interrupted part --------------------------------------------------------------


def test_continue_finishes_an_interrupted_part(
    fake_ollama: FakeOllama, client: TestClient, runtime: Runtime, login: Login
) -> None:
    alice = login("alice")
    sid = story(client, runtime, alice, "One.", "Two.", "The wind rose and the")
    user = _user(runtime, sid)
    runtime.sessions.set_model(user, sid, "gemma3:latest")
    runtime.sessions.checkpoint_part(
        user, sid, 3, "The wind rose and the", state=PartState.INTERRUPTED
    )
    fake_ollama.reply = "sails cracked like shots."
    url = f"{API}/story/{sid}/continue"
    response = client.post(url, json={"finish": True}, headers=alice)
    assert response.status_code == 200, response.text
    frames = parse_sse(response.text)
    event, done = frames[-1]
    added = "".join(data["text"] for name, data in frames if name == "delta")
    assert added == " sails cracked like shots."
    part = done["part"]
    assert event == "done" and (part["seq"], part["take"], part["takes"]) == (3, 2, 2)
    assert (part["take_kind"], part["state"]) == ("continued", "done")
    assert part["content"] == "The wind rose and the sails cracked like shots."
    assert fake_ollama.chat_requests[-1].messages[-1]["content"].endswith("The wind rose and the")
    versions = client.get(f"{SESSIONS}/{sid}/parts/3/versions", headers=alice).json()
    assert [(v["kind"], v["state"], v["chosen"]) for v in versions["versions"]] == [
        ("generated", "interrupted", False),
        ("continued", "done", True),
    ]
    assert client.post(f"{SESSIONS}/{sid}/undo", headers=alice).status_code == 200
    assert contents(client, alice, sid)[2] == "The wind rose and the"

    # Not possible now: 409, and nothing is written; another writer's story: 404.
    asked = len(fake_ollama.chat_requests)
    for body, message in [
        ({"finish": True, "part": 1}, "Part 1 ended normally; regenerate it for a new take"),
        ({"finish": True, "regenerate": True}, "send one of them"),
        ({"finish": True, "direction": "Storm"}, "leave `direction` out"),
        ({"part": 3}, "or `finish: true`"),
    ]:
        error(client.post(url, json=body, headers=alice), 409, "invalid_transition", message)
    error(
        client.post(url, json={"finish": True, "part": 9}, headers=alice),
        404,
        "not_found",
        "no part 9",
    )
    bob = login("bob")
    as_bob = client.post(url, json={"finish": True}, headers=bob)
    assert as_bob.status_code == 404
    assert len(fake_ollama.chat_requests) == asked
    assert contents(client, alice, sid)[2] == "The wind rose and the"
