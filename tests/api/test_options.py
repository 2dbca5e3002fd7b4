"""A story's sampling options over HTTP: read with where each value comes from, changed
(null resets), bad values refused in the API's error shape, and the values reach Ollama."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from tests.api.conftest import Login
from tests.api.test_continue import continue_url, start

SESSIONS = "/api/langchain/sessions"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"temperature": 0.6}


def options_url(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/options"


def test_get_says_which_values_are_the_storys_own(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    response = client.get(options_url(sid), headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == sid
    assert body["options"]["temperature"] == {"value": 0.6, "source": "default"}
    assert body["options"]["seed"] == {"value": None, "source": "unset"}


def test_patch_sets_keeps_the_others_and_null_resets(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    first = client.patch(options_url(sid), json={"temperature": 1.2, "seed": 42}, headers=alice)
    assert first.status_code == 200, first.text
    assert first.json()["options"]["temperature"] == {"value": 1.2, "source": "story"}
    assert first.json()["options"]["seed"] == {"value": 42, "source": "story"}

    second = client.patch(
        options_url(sid), json={"temperature": None, "top_k": 40.0}, headers=alice
    )
    assert second.status_code == 200, second.text
    options = client.get(options_url(sid), headers=alice).json()["options"]
    assert options["temperature"] == {"value": 0.6, "source": "default"}
    assert options["seed"] == {"value": 42, "source": "story"}  # left out: kept
    assert options["top_k"] == {"value": 40, "source": "story"}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"temperature": 2.5}, "'temperature': must be a number from 0 to 2 (got 2.5)"),
        ({"temperature": "0.5"}, "'temperature': must be a number from 0 to 2 (got '0.5')"),
        ({"temperature": True}, "'temperature': must be a number from 0 to 2 (got True)"),
        ({"top_p": 0}, "'top_p': must be a number more than 0 and at most 1 (got 0)"),
        ({"top_k": 0.5}, "'top_k': must be a whole number from 1 to 1000 (got 0.5)"),
        ({"repeat_penalty": 9}, "'repeat_penalty': must be a number from 0.5 to 2 (got 9)"),
        ({"num_predict": 10**30}, "'num_predict': must be a whole number from 16 to 32768"),
        ({"seed": -1}, "'seed': must be a whole number from 0 to 4294967295 (got -1)"),
        ({"warmth": 1}, "'warmth' is not something this endpoint takes"),
    ],
)
def test_bad_values_are_a_422_in_the_error_shape_and_change_nothing(
    client: TestClient, login: Login, body: dict[str, Any], said: str
) -> None:
    alice = login("alice")
    sid = start(client, alice)
    client.patch(options_url(sid), json={"seed": 5}, headers=alice)
    refused = client.patch(options_url(sid), json={"top_k": 30, **body}, headers=alice)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_input" and said in error["message"]
    options = client.get(options_url(sid), headers=alice).json()["options"]
    assert options["seed"]["value"] == 5 and options["top_k"]["source"] == "unset"


def test_non_finite_numbers_are_refused(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    for text in ("NaN", "Infinity", "1e400"):
        refused = client.patch(
            options_url(sid),
            content=f'{{"temperature": {text}}}',
            headers={**alice, "Content-Type": "application/json"},
        )
        assert refused.status_code == 422, (text, refused.text)
        assert "must be a number from 0 to 2" in refused.json()["error"]["message"]


def test_a_completed_story_is_a_409(client: TestClient, login: Login) -> None:
    alice = login("alice")
    sid = start(client, alice)
    client.post(f"{SESSIONS}/{sid}/complete", headers=alice)
    refused = client.patch(options_url(sid), json={"temperature": 1.0}, headers=alice)
    assert refused.status_code == 409
    assert "Reopen it" in refused.json()["error"]["message"]


def test_the_options_reach_ollama(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    alice = login("alice")
    sid = start(client, alice, model="gemma3")
    client.patch(options_url(sid), json={"top_p": 0.8, "num_predict": 64}, headers=alice)
    response = client.post(continue_url(sid), json={"direction": "Mara opens it"}, headers=alice)
    assert response.status_code == 200
    options = fake_ollama.chat_requests[-1].body["options"]
    assert (options["temperature"], options["top_p"], options["num_predict"]) == (0.6, 0.8, 64)


# -- thinking -----------------------------------------------------------------------------------


def test_think_is_read_set_and_sent_to_ollama(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    fake_ollama.models = [FakeModel("gemma3"), FakeModel("qwen3:4b", thinks=True)]
    alice = login("alice")
    sid = start(client, alice, model="qwen3:4b")
    first = client.get(options_url(sid), headers=alice).json()
    assert first["options"]["think"] == {"value": None, "source": "unset"}
    changed = client.patch(options_url(sid), json={"think": "On"}, headers=alice)
    assert changed.status_code == 200, changed.text
    assert changed.json()["options"]["think"] == {"value": "on", "source": "story"}
    assert changed.json()["note"] == ""
    response = client.post(continue_url(sid), json={"direction": "Mara opens it"}, headers=alice)
    assert response.status_code == 200
    assert "Let me think" not in response.text  # the thinking is not streamed as the part
    assert fake_ollama.chat_requests[-1].body["think"] is True


@pytest.mark.parametrize(
    ("model", "body", "status", "said"),
    [
        ("gemma3", {"think": "on"}, 409, "gemma3 does not think before it answers"),
        ("qwen3:4b", {"think": "high"}, 409, "use on (or off) rather than high"),
        ("qwen3:4b", {"think": "deep"}, 422, "one of off, on, low, medium or high (got 'deep')"),
        ("qwen3:4b", {"think": 1}, 422, "one of off, on, low, medium or high"),
    ],
)
def test_a_think_that_is_no_setting_or_that_the_model_cannot_follow_changes_nothing(
    fake_ollama: FakeOllama,
    client: TestClient,
    login: Login,
    model: str,
    body: dict[str, Any],
    status: int,
    said: str,
) -> None:
    fake_ollama.models = [FakeModel("gemma3"), FakeModel("qwen3:4b", thinks=True)]
    alice = login("alice")
    sid = start(client, alice, model=model)
    refused = client.patch(options_url(sid), json={"seed": 3, **body}, headers=alice)
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    code = "invalid_input" if status == 422 else "invalid_transition"
    assert error["code"] == code and said in error["message"]
    options = client.get(options_url(sid), headers=alice).json()["options"]
    assert options["think"]["source"] == "unset" and options["seed"]["source"] == "unset"


def test_a_level_for_a_model_that_takes_levels_is_kept(
    fake_ollama: FakeOllama, client: TestClient, login: Login
) -> None:
    fake_ollama.models = [FakeModel("gpt-oss:20b", thinks=True)]
    alice = login("alice")
    sid = start(client, alice, model="gpt-oss:20b")
    changed = client.patch(options_url(sid), json={"think": "high"}, headers=alice)
    assert changed.status_code == 200, changed.text
    client.post(continue_url(sid), json={"direction": "Mara opens it"}, headers=alice)
    assert fake_ollama.chat_requests[-1].body["think"] == "high"
