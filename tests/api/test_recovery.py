"""A save that fails while a part streams over HTTP (the disk fills up): the text goes to a
recovery file on the server, and the client's `error` event names it and the cause."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from storyterm.core import recovery
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from tests.api.conftest import Login
from tests.api.test_continue import continue_url, parse_sse, start
from tests.disk_full import disk_full_switch


def test_a_failed_save_keeps_the_text_in_a_recovery_file_the_error_names(
    fake_ollama: FakeOllama, client: TestClient, login: Login, runtime: Runtime
) -> None:
    fake_ollama.tokens, fake_ollama.rate = 1_500, 1_000
    alice = login("alice")
    sid = start(client, alice, model="gemma3")
    with disk_full_switch() as disk:

        def fill_the_disk() -> None:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                requests = fake_ollama.chat_requests
                if requests and len(requests[-1].sent) >= 100:
                    disk.full.set()
                    return
                time.sleep(0.01)

        threading.Thread(target=fill_the_disk, daemon=True).start()
        response = client.post(continue_url(sid), json={}, headers=alice)
        disk.full.clear()
    assert response.status_code == 200
    frames = parse_sse(response.text)
    name, error = frames[-1]
    assert name == "error" and error["code"] == "database_unavailable"
    assert "(the disk holding the database is full); they are kept in " in error["message"]
    found = re.search(r"they are kept in (\S+\.txt),", error["message"])
    assert found, error["message"]
    assert "`storyterm" not in error["message"]  # no command of the CLI's in an API body
    path = Path(found.group(1))
    assert path.parent == runtime.settings.state_dir / "recovered"
    sent = "".join(data["text"] for kind, data in frames if kind == "delta")
    kept = recovery.read_recovery(path)
    assert kept.text == sent and len(sent.split()) == 1_500
    assert kept.unsaved.session_id == sid and kept.unsaved.state == "done"
