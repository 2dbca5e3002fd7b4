"""`storyterm serve` stopped by SIGTERM (`kill`, a service stop) or SIGHUP (its terminal closed)
mid-stream: the part being written is saved with its text, marked interrupted, and the client
gets its `done` event, as with Ctrl+C (tests/api/test_serve.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message

from storyterm.api.streaming import Generation, Generations
from storyterm.core.storage.tables import PartState
from tests.api.test_serve import ROOT
from tests.services import free_port, wait_for_port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_during_a_stream_saves_the_part_and_tells_the_client(
    signum: signal.Signals,
) -> None:
    import httpx

    from storyterm.core.runtime import Runtime
    from storyterm.devtools.fake_ollama import FakeOllama
    from tests.api.conftest import PASSWORD, login_headers

    runtime = Runtime()  # the same database the server opens (this test's STORYTERM_DATA_DIR)
    alice_id = runtime.identity.register("alice", PASSWORD).id
    runtime.close()
    port = free_port()
    with FakeOllama(tokens=2000, rate=100.0) as fake:
        proc = subprocess.Popen(
            [sys.executable, "-m", "storyterm", "serve", "--port", str(port)],
            cwd=ROOT,
            # No checkpoint falls due while the part streams: what is saved got there by the stop.
            env={**os.environ, "OLLAMA_HOST": fake.url, "STORYTERM_CHECKPOINT_INTERVAL": "60"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, timeout=30)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                alice = login_headers(http, "alice")
                sid = http.post(
                    "/api/langchain/story/start",
                    json={"title": "Night Shift", "model": "gemma3:latest"},
                    headers=alice,
                ).json()["id"]
                url = f"/api/langchain/story/{sid}/continue"
                lines: list[str] = []
                with http.stream("POST", url, json={}, headers=alice) as response:
                    for line in response.iter_lines():
                        lines.append(line)
                        if len(lines) == 30:
                            proc.send_signal(signum)
            output = proc.communicate(timeout=20)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
    # uvicorn ends the process with the signal it caught, once shut down (as a service expects).
    assert proc.returncode == -signum, output
    assert "stopping 1 generation(s); their text is kept" in output
    assert "Traceback" not in output
    events = [line[7:] for line in lines if line.startswith("event: ")]
    assert events[-1] == "done"
    done = json.loads(lines[lines.index("event: done") + 1][6:])
    assert done["part"]["state"] == "interrupted" and done["done_reason"] == "cancel"
    received = "".join(
        json.loads(data[6:])["text"]
        for kind, data in itertools.pairwise(lines)
        if kind == "event: delta"
    )
    runtime = Runtime()
    try:
        [part] = runtime.sessions.all_parts(alice_id, sid)
    finally:
        runtime.close()
    assert part.state is PartState.INTERRUPTED
    assert part.content == received and len(received.split()) >= 5


async def test_the_app_shutdown_waits_for_running_generations_to_save() -> None:
    """The lifespan's last step (Generations.finish_all): a generation still running when the
    server gave up on its connection is stopped, and its save is waited for."""
    saved = asyncio.Event()

    async def events(cancel: asyncio.Event) -> AsyncIterator[object]:
        yield "the first event"
        await cancel.wait()
        await asyncio.sleep(0.2)  # the interrupted part being saved
        saved.set()

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    registry = Generations()
    Generation(events, receive, registry)
    await asyncio.sleep(0.05)
    assert len(registry) == 1 and not saved.is_set()
    await registry.finish_all(5)
    assert saved.is_set()
