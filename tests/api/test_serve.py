"""`storyterm serve`: loopback by default, clear messages, and the API never loaded elsewhere."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from storyterm.api import create_app
from storyterm.cli import cli
from storyterm.cli.serve import check_port, is_loopback, log_config
from storyterm.core.runtime import Runtime
from storyterm.errors import InvalidInput
from tests.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_port_in_use_is_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidInput, match=f"Port {port} is already in use.*--port"):
            check_port("127.0.0.1", port)


def test_an_unknown_host_is_a_clear_message() -> None:
    with pytest.raises(InvalidInput, match="not an address of this machine"):
        check_port("no-such-host.invalid", 8000)


def _serve(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, dict[str, Any]]:
    from storyterm.cli import serve

    seen: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int) -> None:
        seen.update(app=app, host=host, port=port, own_process=app.state.own_process)

    monkeypatch.setattr(serve, "run_server", fake_run)
    result = CliRunner().invoke(cli, ["serve", *args])
    return result, seen


def test_serve_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    result, seen = _serve(monkeypatch, "--port", str(free_port()))
    assert result.exit_code == 0, result.output
    assert seen["host"] == "127.0.0.1"
    assert "warning" not in result.output
    assert seen["app"].state.runtime is not None
    assert seen["own_process"]
    assert "storyterm" in log_config()["loggers"]


def test_only_the_server_freezes_what_start_up_loaded(runtime: Runtime) -> None:
    # `storyterm serve` keeps its start-up heap out of every full collection (a pause of every
    # stream it serves); a frozen object is never freed, so an app made in a process that goes
    # on (a script, these tests) leaves the collector as it was.
    before = gc.get_freeze_count()
    with TestClient(create_app(runtime)):
        assert gc.get_freeze_count() == before
    try:
        with TestClient(create_app(runtime, own_process=True)):
            assert gc.get_freeze_count() > before + 10_000
    finally:
        gc.unfreeze()


def test_serve_warns_when_binding_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    result, seen = _serve(monkeypatch, "--host", "0.0.0.0", "--port", str(port))
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"]) == ("0.0.0.0", port)
    assert "warning: --host 0.0.0.0 makes the API reachable from other machines" in result.output


def test_serve_refuses_a_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result, seen = _serve(monkeypatch, "--port", str(taken.getsockname()[1]))
    assert result.exit_code == 1
    assert "already in use" in result.output
    assert not seen


def test_serve_runs_for_real_and_stops_on_ctrl_c() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyterm", "serve", "--port", str(port)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as r:
            body = json.load(r)
        assert body["database"]["state"] == "online"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output = proc.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, output
    assert f"API at http://127.0.0.1:{port}/api" in output
    assert "Application shutdown complete" in output


def test_the_api_is_loaded_only_by_serve() -> None:
    """The core and the command line start without FastAPI, Starlette or uvicorn."""
    code = (
        "import sys, storyterm.cli, storyterm.core.service, storyterm.core.runtime;"
        "print([m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'uvicorn', 'storyterm.api') or m.startswith('storyterm.api')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_ctrl_c_during_a_stream_saves_the_part_and_tells_the_client() -> None:
    import httpx

    from storyterm.core.runtime import Runtime
    from storyterm.devtools.fake_ollama import FakeOllama
    from tests.api.conftest import PASSWORD, login_headers

    runtime = Runtime()  # the same database the server opens (this test's STORYTERM_DATA_DIR)
    runtime.identity.register("alice", PASSWORD)
    runtime.close()
    port = free_port()
    with FakeOllama(tokens=2000, rate=100.0) as fake:
        proc = subprocess.Popen(
            [sys.executable, "-m", "storyterm", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "OLLAMA_HOST": fake.url},
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
                            proc.send_signal(signal.SIGINT)
                stopped_at = time.monotonic()
            output = proc.communicate(timeout=15)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, output
    assert time.monotonic() - stopped_at < 5  # well inside the grace period
    assert "stopping 1 generation(s); their text is kept" in output
    assert "Traceback" not in output
    events = [line[7:] for line in lines if line.startswith("event: ")]
    assert events[-1] == "done"
    done = json.loads(lines[lines.index("event: done") + 1][6:])
    assert done["part"]["state"] == "interrupted"
    assert done["done_reason"] == "cancel"
    assert 0 < done["part"]["word_count"] < 2000
