"""Continuing a story over HTTP: the part streams as server-sent events from the real
storyteller and ChatOllama talking to the loopback FakeOllama, and is saved as it streams."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from tests.api.conftest import LiveServer, Login

START = "/api/langchain/story/start"
SESSIONS = "/api/langchain/sessions"


def continue_url(session_id: str) -> str:
    return f"/api/langchain/story/{session_id}/continue"


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) for each frame; comment lines are skipped."""
    frames = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        frames.append((fields["event"], json.loads(fields["data"])))
    return frames


def start(client: Any, headers: dict[str, str], **body: Any) -> str:
    response = client.post(START, json={"title": "The Keeper's Letter", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def stored_parts(client: Any, headers: dict[str, str], session_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{SESSIONS}/{session_id}", headers=headers)
    assert response.status_code == 200
    return response.json()["parts"]


def test_a_part_streams_and_is_saved(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3")
    # A model at a pace the server keeps up with: each piece goes out as it comes (text that
    # arrives faster than it is sent goes out joined: test_streaming_frames.py).
    fake_ollama.rate = 100
    response = client.post(continue_url(sid), json={"direction": "Mara opens it"}, headers=alice)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"

    frames = parse_sse(response.text)
    names = [name for name, _ in frames]
    assert names.count("done") == 1 and names[-1] == "done"
    assert "error" not in names
    deltas = [data["text"] for name, data in frames if name == "delta"]
    assert len(deltas) > 5
    done = frames[-1][1]
    text = "".join(deltas)
    assert done["part"]["content"] == text
    assert done["part"]["state"] == "done"
    assert done["part"]["direction"] == "Mara opens it"
    assert done["part"]["seq"] == 1
    assert done["prompt_tokens"] > 0 and done["completion_tokens"] == 40
    assert done["done_reason"] == "stop"
    assert done["session"]["part_count"] == 1 and "user_id" not in done["session"]
    # What the client saw is exactly what was saved.
    [part] = stored_parts(client, alice, sid)
    assert part["content"] == text and part["state"] == "done"
    # The writer's direction reached the model.
    assert "Mara opens it" in fake_ollama.chat_requests[-1].prompt_text


def test_progress_comes_first_when_a_model_is_chosen(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice)  # no model: the storyteller picks one and says so
    frames = parse_sse(client.post(continue_url(sid), json={}, headers=alice).text)
    assert frames[0] == (
        "progress",
        {"message": "This story had no model yet; it now uses gemma3:latest."},
    )
    assert frames[-1][1]["session"]["model_name"] == "gemma3:latest"


def test_regenerate_replaces_the_newest_part(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3:latest")
    client.post(continue_url(sid), json={"direction": "first"}, headers=alice)
    fake_ollama.reply = "A different ending entirely."
    again = client.post(continue_url(sid), json={"regenerate": True}, headers=alice)
    done = parse_sse(again.text)[-1][1]
    assert done["part"]["seq"] == 1 and done["part"]["direction"] == "first"
    assert done["part"]["content"] == "A different ending entirely."
    assert [p["content"] for p in stored_parts(client, alice, sid)] == [
        "A different ending entirely."
    ]


def test_ollama_down_is_a_503_before_anything_streams(client: TestClient, login: Login) -> None:
    alice = login("alice")  # OLLAMA_HOST points at a closed port (tests/conftest.py)
    sid = start(client, alice, model="gemma3:latest")
    response = client.post(continue_url(sid), json={"direction": "x"}, headers=alice)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "Ollama" in error["message"]
    assert stored_parts(client, alice, sid) == []  # nothing half-made is left behind


def test_a_missing_model_is_a_409_that_names_the_fallback(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="llama9:latest")
    response = client.post(continue_url(sid), json={}, headers=alice)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "model_missing"
    assert "gemma3:latest" in error["message"]


def test_a_paused_or_completed_story_cannot_be_continued(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3:latest")
    client.post(f"{SESSIONS}/{sid}/pause", headers=alice)
    paused = client.post(continue_url(sid), json={}, headers=alice)
    assert paused.status_code == 409
    assert paused.json()["error"]["code"] == "invalid_transition"
    assert "Resume it first" in paused.json()["error"]["message"]
    client.post(f"{SESSIONS}/{sid}/complete", headers=alice)
    done = client.post(continue_url(sid), json={}, headers=alice)
    assert done.status_code == 409
    assert fake_ollama.chat_requests == []


def test_bad_continue_input(fake_ollama: FakeOllama, client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3:latest")
    too_long = client.post(continue_url(sid), json={"direction": "x" * 5000}, headers=alice)
    assert too_long.status_code == 422
    assert "'direction' must be at most 4000 characters" in too_long.json()["error"]["message"]
    wrong_type = client.post(continue_url(sid), json={"direction": ["a"]}, headers=alice)
    assert wrong_type.status_code == 422
    nothing_to_redo = client.post(continue_url(sid), json={"regenerate": True}, headers=alice)
    assert nothing_to_redo.status_code == 409
    assert "no part to write again" in nothing_to_redo.json()["error"]["message"]
    assert client.post(continue_url(sid), json={}).status_code == 401


def test_a_stream_that_fails_midway_ends_with_an_error_and_keeps_the_text(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3:latest")
    fake_ollama.error_after = 8
    response = client.post(continue_url(sid), json={}, headers=alice)
    assert response.status_code == 200
    frames = parse_sse(response.text)
    name, error = frames[-1]
    assert name == "error"
    assert error["code"] == "model_unavailable"
    text = "".join(data["text"] for name, data in frames if name == "delta")
    assert text and error["part"]["content"] == text
    assert error["part"]["state"] == "interrupted"
    [part] = stored_parts(client, alice, sid)
    assert part["state"] == "interrupted" and part["content"] == text


# -- over a real socket -----------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_client_that_disconnects_stops_the_generation_and_keeps_the_text(
    fake_ollama: FakeOllama, live_server: LiveServer, login: Login, runtime: Runtime
) -> None:
    fake_ollama.tokens, fake_ollama.rate = 2000, 100.0  # 20 s if nobody stopped it
    alice = login("alice")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        sid = start(http, alice, model="gemma3:latest")
        received = ""
        with http.stream("POST", continue_url(sid), json={"direction": "go"}, headers=alice) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: ") and "text" in line:
                    received += json.loads(line[6:])["text"]
                if len(received.split()) >= 15:
                    break
        hung_up = time.monotonic()
        # The connection is closed: the server notices, stops the model and saves the part.

        def interrupted() -> dict[str, Any] | None:
            parts = stored_parts(http, alice, sid)
            return parts[0] if parts and parts[0]["state"] == "interrupted" else None

        part = wait_for(interrupted)
        assert time.monotonic() - hung_up < 5
        assert part["content"].startswith(received)
        assert len(part["content"].split()) < 1000  # stopped long before the end
        # The model's stream was dropped too: nothing more is being sent to anyone.
        sent = len(fake_ollama.chat_requests[-1].text_sent)
        time.sleep(0.5)
        assert len(fake_ollama.chat_requests[-1].text_sent) == sent
        # And the story can go on at once.
        fake_ollama.tokens, fake_ollama.rate = 10, None
        after = http.post(continue_url(sid), json={}, headers=alice)
        assert parse_sse(after.text)[-1][1]["part"]["seq"] == 2


def test_a_client_that_leaves_before_the_first_word_leaves_nothing_behind(
    fake_ollama: FakeOllama, live_server: LiveServer, login: Login
) -> None:
    fake_ollama.load_delay = 1.5  # the model is "loading"
    alice = login("alice")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        sid = start(http, alice, model="gemma3:latest")
        with pytest.raises(httpx.ReadTimeout):
            http.post(continue_url(sid), json={}, headers=alice, timeout=0.5)
        # Nothing was written, so nothing is kept: no empty or streaming part.
        wait_for(lambda: stored_parts(http, alice, sid) == [], timeout=10)
        time.sleep(1.5)  # past the moment the model would have started writing
        assert stored_parts(http, alice, sid) == []
        session = http.get(f"{SESSIONS}/{sid}", headers=alice).json()["session"]
        assert session["part_count"] == 0


def test_a_second_client_loses_the_race_with_a_409(
    fake_ollama: FakeOllama, live_server: LiveServer, login: Login
) -> None:
    fake_ollama.tokens, fake_ollama.rate = 60, 40.0  # 1.5 s
    alice = login("alice")
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        sid = start(http, alice, model="gemma3:latest")
        first: dict[str, Any] = {}
        started = threading.Event()

        def write() -> None:
            with httpx.Client(base_url=live_server.url, timeout=30) as other:
                with other.stream("POST", continue_url(sid), json={}, headers=alice) as r:
                    body = ""
                    for chunk in r.iter_text():
                        body += chunk
                        started.set()
                first["body"] = body

        thread = threading.Thread(target=write)
        thread.start()
        assert started.wait(10)
        second = http.post(continue_url(sid), json={}, headers=alice)
        thread.join(30)
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "conflict"
        assert "being written right now" in second.json()["error"]["message"]
        assert parse_sse(first["body"])[-1][1]["part"]["state"] == "done"
        assert len(stored_parts(http, alice, sid)) == 1
