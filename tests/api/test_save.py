"""Saving a story to files over HTTP: the export directory of the machine the API runs on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from storyterm.core.runtime import Runtime
from tests.api.conftest import Login

START = "/api/langchain/story/start"
SESSIONS = "/api/langchain/sessions"


def story_with_parts(client: TestClient, runtime: Runtime, headers: dict, parts: int = 3) -> str:
    sid = client.post(START, json={"title": "Salt Roads"}, headers=headers).json()["id"]
    owner = runtime.identity.verify(headers["Authorization"].split()[1]).id
    for n in range(1, parts + 1):
        runtime.sessions.append_part(owner, sid, direction=f"step {n}", content=f"Part {n}.")
    return sid


def test_save_writes_the_default_formats_into_the_export_dir(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice)
    response = client.post(f"{SESSIONS}/{sid}/save", headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    folder = Path(body["folder"])
    assert folder.is_absolute()
    assert folder.parent == Path(runtime.settings.export_dir).resolve()
    assert folder.name == f"salt-roads-{sid[:8]}"
    names = sorted(Path(f).name for f in body["files"])
    # The export_formats setting's default: md, json and epub.
    assert names == [
        "part-001.md",
        "part-002.md",
        "part-003.md",
        "story.epub",
        "story.json",
        "story.md",
    ]
    assert all(Path(f).is_file() for f in body["files"])
    assert body["part_count"] == 3 and body["removed"] == []
    story = json.loads((folder / "story.json").read_text())
    assert [p["content"] for p in story["parts"]] == ["Part 1.", "Part 2.", "Part 3."]


def test_save_without_formats_writes_the_export_formats_setting(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice, parts=1)
    runtime.settings.export_formats = ["txt", "json"]
    for body in (None, {}, {"formats": None}):
        response = client.post(f"{SESSIONS}/{sid}/save", json=body, headers=alice)
        assert response.status_code == 200, response.text
        assert sorted(Path(f).name for f in response.json()["files"]) == [
            "story.json",
            "story.txt",
        ]


def test_save_with_chosen_formats(client: TestClient, login: Login, runtime: Runtime) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice, parts=1)
    everything = client.post(f"{SESSIONS}/{sid}/save", json={"formats": ["all"]}, headers=alice)
    names = {Path(f).name for f in everything.json()["files"]}
    assert {"story.epub", "story.txt", "story.md", "story.json"} <= names
    only_txt = client.post(f"{SESSIONS}/{sid}/save", json={"formats": ["txt"]}, headers=alice)
    assert [Path(f).name for f in only_txt.json()["files"]] == ["story.txt"]


@pytest.mark.parametrize(
    ("formats", "words"),
    [(["pdf"], "'formats.0'"), ([], "'formats' must not be empty"), ("md", "'formats'")],
)
def test_save_refuses_unknown_formats(
    client: TestClient, login: Login, runtime: Runtime, formats: object, words: str
) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice, parts=1)
    response = client.post(f"{SESSIONS}/{sid}/save", json={"formats": formats}, headers=alice)
    assert response.status_code == 422
    assert words in response.json()["error"]["message"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_export_dir_that_cannot_be_written_is_a_clear_error(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice, parts=1)
    export_dir = Path(runtime.settings.export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    export_dir.chmod(0o500)
    try:
        response = client.post(f"{SESSIONS}/{sid}/save", headers=alice)
    finally:
        export_dir.chmod(0o700)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "export_failed"
    assert str(export_dir) in response.json()["error"]["message"]


def test_an_export_dir_that_is_a_file_is_a_clear_error(
    client: TestClient, login: Login, runtime: Runtime
) -> None:
    alice = login("alice")
    sid = story_with_parts(client, runtime, alice, parts=1)
    export_dir = Path(runtime.settings.export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    export_dir.write_text("not a folder")
    response = client.post(f"{SESSIONS}/{sid}/save", headers=alice)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "export_failed"
    assert "Traceback" not in error["message"]
