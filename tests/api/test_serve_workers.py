"""`storyterm serve --workers 2` for real, on PostgreSQL and Redis: any worker serves any request.

A client cannot choose its worker: every connection goes to whichever worker accepts it first.
So the tests find out, from outside, which worker holds each connection: the server's end of a
TCP connection is a socket in exactly one worker process, found through /proc (the socket's
inode in /proc/net/tcp, then the worker whose file descriptors hold it). Nothing in storyterm
reports its pid for this. Connections are opened until both workers hold some, and each request
is then sent on a connection of the worker the test wants.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.settings import load_settings
from tests.api.conftest import PASSWORD
from tests.api.test_serve import ROOT
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="finding a connection's worker needs Linux /proc"
)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces: the parent pid is the 2nd field after ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _server_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the connection from `client_port` (None: not accepted
    yet)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            return inode if inode != "0" else None
    return None


class Server:
    """`storyterm serve --workers 2` in a subprocess, and which worker holds a connection."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port

    def worker_of(self, conn: http.client.HTTPConnection, timeout: float = 15.0) -> int:
        assert conn.sock is not None
        client_port = conn.sock.getsockname()[1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inode = _server_inode(self.port, client_port)
            if inode is not None:
                for pid in _children(self.proc.pid):
                    with contextlib.suppress(OSError):
                        for fd in Path(f"/proc/{pid}/fd").iterdir():
                            with contextlib.suppress(OSError):
                                if os.readlink(fd) == f"socket:[{inode}]":
                                    return pid
            time.sleep(0.05)
        raise AssertionError(f"no worker accepted the connection from port {client_port}")

    def connections_on_both_workers(self) -> dict[int, list[http.client.HTTPConnection]]:
        """Open connections until both workers hold at least two (up to 60 tries)."""
        by_worker: dict[int, list[http.client.HTTPConnection]] = {}
        for _ in range(60):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.connect()
            by_worker.setdefault(self.worker_of(conn), []).append(conn)
            if len(by_worker) == 2 and all(len(c) >= 2 for c in by_worker.values()):
                return by_worker
        raise AssertionError(
            f"60 connections went to {len(by_worker)} worker(s): {sorted(by_worker)}"
        )


@pytest.fixture
def server(postgres_url: str, redis_url: str) -> Iterator[Server]:
    """The server in a session of its own, so that a test can signal its whole process group
    (as a closing terminal does)."""
    port = free_port()
    with FakeOllama(tokens=300, rate=100.0) as fake:
        env = {
            **os.environ,
            "STORYTERM_DATABASE_URL": postgres_url,
            "STORYTERM_REDIS_URL": redis_url,
            "OLLAMA_HOST": fake.url,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "storyterm", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(port, timeout=60)
            yield Server(proc, port)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                output = proc.communicate(timeout=30)[0].decode()
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
) -> http.client.HTTPResponse:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    return conn.getresponse()


def _json(response: http.client.HTTPResponse) -> Any:
    return json.loads(response.read())


def _frames(response: http.client.HTTPResponse) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of each SSE frame, as they arrive."""
    event = ""
    while line := response.readline():
        text = line.decode().rstrip("\r\n")
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: "):
            yield event, json.loads(text[6:])


def _register(postgres_url: str, redis_url: str, *names: str) -> None:
    runtime = Runtime(load_settings(database_url=postgres_url, redis_url=redis_url))
    try:
        for name in names:
            runtime.identity.register(name, PASSWORD)
    finally:
        runtime.close()


def _login(conn: http.client.HTTPConnection, name: str, password: str = PASSWORD) -> Any:
    return _call(conn, "POST", "/api/auth/login", {"username": name, "password": password})


def test_a_part_written_through_one_worker_is_heard_live_through_the_other(
    server: Server, postgres_url: str, redis_url: str
) -> None:
    _register(postgres_url, redis_url, "alice", "bob")
    conns = server.connections_on_both_workers()
    on_a, on_b = conns.values()  # two workers, a and b
    a_conn, a_spare = on_a[:2]
    b_conn, b_spare = on_b[:2]
    alice = _json(_login(a_conn, "alice"))["token"]
    bob = _json(_login(b_conn, "bob"))["token"]
    story = _json(
        _call(
            a_conn,
            "POST",
            "/api/langchain/story/start",
            {"title": "Night Shift", "model": "gemma3:latest"},
            alice,
        )
    )["id"]

    # Another writer's story is not found on either worker, before any frame is sent.
    for conn in (a_conn, b_conn):
        refused = _call(conn, "GET", f"/api/langchain/sessions/{story}/events", token=bob)
        assert refused.status == 404
        refused.read()

    # Alice watches her story through worker b; bob watches all of his through worker a.
    watch = _call(b_spare, "GET", f"/api/langchain/sessions/{story}/events", token=alice)
    assert watch.status == 200
    alice_frames = _frames(watch)
    assert next(alice_frames) == (
        "status",
        {"mode": "live", "reason": "live events", "resync": False},
    )
    bob_watch = _call(a_spare, "GET", "/api/langchain/events", token=bob)
    bob_frames = _frames(bob_watch)
    assert next(bob_frames)[1]["mode"] == "live"

    # The part is written through worker a; a second continue through worker b loses.
    writing = _call(a_conn, "POST", f"/api/langchain/story/{story}/continue", {}, alice)
    assert writing.status == 200
    written = _frames(writing)
    assert next(written)[0] in ("progress", "delta")
    second = _call(b_conn, "POST", f"/api/langchain/story/{story}/continue", {}, alice)
    assert second.status == 409, second.read()
    assert "being written" in _json(second)["error"]["message"]
    done = next(data for event, data in written if event in ("done", "error"))
    part = done["part"]
    assert part["state"] == "done" and part["word_count"] > 100

    # Worker b heard every piece of it, in order, as it streamed, then its end.
    heard = ""
    kinds = []
    for event, data in alice_frames:
        kinds.append(event)
        if event == "part.text" and data["seq"] == part["seq"]:
            assert data["offset"] == len(heard), "a piece of the text was missed"
            heard += data["text"]
        if event == "part.finished":
            break
    assert heard == part["content"]
    assert kinds.index("part.begun") < kinds.index("part.text")

    # Bob heard nothing of alice's story: the first thing on his stream is his own change.
    _call(b_conn, "POST", "/api/langchain/story/start", {"title": "Bob's"}, bob).read()
    event, data = next(frame for frame in bob_frames if frame[0] != "status")
    assert (event, data["title"]) == ("session.created", "Bob's")
    for conn in (conn for group in conns.values() for conn in group):
        conn.close()


def test_failed_logins_on_different_workers_count_together(
    server: Server, postgres_url: str, redis_url: str
) -> None:
    _register(postgres_url, redis_url, "alice")
    conns = server.connections_on_both_workers()
    on_a, on_b = conns.values()
    # Five wrong passwords, three through one worker and two through the other.
    for conn in [on_a[0], on_b[0], on_a[0], on_b[0], on_a[0]]:
        wrong = _login(conn, "alice", "not the password")
        assert wrong.status == 401, wrong.read()
        wrong.read()
    # The right password is now refused by both workers, until the lock runs out.
    for conn in (on_a[1], on_b[1]):
        locked = _login(conn, "alice")
        assert locked.status == 429
        assert "Too many" in _json(locked)["error"]["message"]
    for group in conns.values():
        for conn in group:
            conn.close()


@pytest.mark.parametrize(
    "whom", ["SIGTERM to the server", "SIGHUP to its process group"], ids=["SIGTERM", "SIGHUP"]
)
def test_stopping_the_server_mid_stream_saves_the_part_and_tells_the_client(
    server: Server, postgres_url: str, redis_url: str, whom: str
) -> None:
    """SIGTERM to `storyterm serve` (a service stop: the parent stops its workers), or SIGHUP to
    all of its processes (its terminal closed): the worker writing a part stops the generation
    first, as a single-process server does, and the server ends instead of restarting them."""
    _register(postgres_url, redis_url, "alice")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    alice = _json(_login(conn, "alice"))["token"]
    story = _json(
        _call(conn, "POST", "/api/langchain/story/start", {"title": "Night Shift"}, alice)
    )["id"]
    writing = _call(conn, "POST", f"/api/langchain/story/{story}/continue", {}, alice)
    frames = _frames(writing)
    for _ in range(10):  # mid-stream: ~0.4 s of a 3 s part (up to 25 frames a second)
        assert next(frames)[0] in ("progress", "delta", "saved")
    if whom.startswith("SIGTERM"):
        server.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(server.proc.pid, signal.SIGHUP)
    event, data = next((event, data) for event, data in frames if event in ("done", "error"))
    assert event == "done"
    assert data["done_reason"] == "cancel"
    assert data["part"]["state"] == "interrupted"
    assert data["part"]["content"]
    conn.close()
    server.proc.wait(30)


def _serve_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, dict[str, Any]]:
    from click.testing import CliRunner

    from storyterm.cli import cli, serve_workers

    seen: dict[str, Any] = {}

    def fake_run(host: str, port: int, workers: int, *_rest: Any) -> None:
        seen.update(host=host, port=port, workers=workers)

    monkeypatch.setattr(serve_workers, "run_workers", fake_run)
    return CliRunner().invoke(cli, ["serve", "--port", str(free_port()), *args]), seen


@pytest.mark.parametrize("workers", ["0", "33", "-1"])
def test_a_number_of_workers_out_of_range_is_refused_with_the_range(
    monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    result, seen = _serve_cli(monkeypatch, "--workers", workers)
    assert result.exit_code == 2
    assert f"give 1 to 32 worker processes, not {workers}" in result.output
    assert "Traceback" not in result.output and not seen


def test_workers_on_sqlite_without_redis_start_with_warnings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # tests/conftest.py: a SQLite file in the test's data folder, no Redis.
    result, seen = _serve_cli(monkeypatch, "--workers", "3")
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 3
    assert "warning: the database is a SQLite file: the workers take turns" in result.output
    assert "warning: no Redis is set (STORYTERM_REDIS_URL)" in result.output
    assert "3 workers. Ctrl+C stops it." in result.output


def test_workers_past_postgresqls_connections_are_warned_about(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, redis_url: str
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", postgres_url)
    monkeypatch.setenv("STORYTERM_REDIS_URL", redis_url)
    result, seen = _serve_cli(monkeypatch, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 2
    assert "warning" not in result.output
    # The tests' server allows PostgreSQL's default 100 connections.
    result, seen = _serve_cli(monkeypatch, "--workers", "8")
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 8
    assert "8 workers may open up to 120 database connections and PostgreSQL allows 100" in (
        result.output
    )
