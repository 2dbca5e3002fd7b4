"""A team on one server: `storyterm serve --workers 4` on PostgreSQL + Redis, 50 writers
continuing stories at once through the API (the Ollama stand-in at ~50 tokens a second each),
50 watchers on the event streams, and a session list asked for throughout.

One client process (asyncio + httpx) plays every writer and watcher, so the writer->watcher
latency is two readings of one clock: when the writer's `continue` stream brought a piece of
text, and when the watcher's event stream brought the event holding its end. The session list
is asked for from a process of its own (bench/_list_probe.py), as one writer's client would.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, AreaResult, Figure, Skip, add_percentiles, log
from bench.context import Context
from bench.fake_server import FakeOllamaProcess
from tests.services import free_port, wait_for_port

PASSWORD = "correct horse battery"
#: The session list is asked for again this long after each answer.
LIST_INTERVAL_S = 0.05


@dataclass
class Shape:
    workers: int
    writers: int
    parts: int  # continued one after another by each writer
    tokens: int  # per part
    rate: float = 50.0  # tokens a second per stream


#: 36 parts of 5 s each: "for a few minutes" (the issue), about three of writing.
FULL = Shape(workers=4, writers=50, parts=36, tokens=250)
QUICK = Shape(workers=2, writers=4, parts=1, tokens=40)


@dataclass
class Tally:
    #: (writer, seq) -> [(end offset, time)] as the writer's stream brought the text.
    written: dict[tuple[int, int], list[tuple[int, float]]] = field(default_factory=dict)
    #: (writer, seq) -> [(end offset, time)] as the watcher heard it.
    heard: dict[tuple[int, int], list[tuple[int, float]]] = field(default_factory=dict)
    #: (writer, seq) -> the watcher's copy of the text, and where it first had a gap.
    heard_text: dict[tuple[int, int], str] = field(default_factory=dict)
    gaps: int = 0
    #: (writer, seq) -> the part as `done` returned it.
    done: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    text_lag_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: CPU seconds each part of the set-up used while the writers wrote, and how long that was.
    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    #: How busy the machine's cores were (every process, PostgreSQL and Redis too), 0-1.
    machine_busy: float | None = None


def run(ctx: Context, area: AreaResult) -> None:
    shape = QUICK if ctx.quick else FULL
    try:
        database_url = ctx.servers.postgres_url()
        redis_url = ctx.servers.redis_url()
    except Skip as exc:
        raise Skip(f"needs PostgreSQL and Redis: {exc}") from exc
    _register(database_url, redis_url, shape.writers)
    home = Path(tempfile.mkdtemp(prefix="storyterm-team-"))
    with (
        FakeOllamaProcess(tokens=shape.tokens, rate=shape.rate) as fake,
        serving(database_url, redis_url, fake.url, home, workers=shape.workers) as (proc, base),
    ):
        tally, rss = asyncio.run(_load(base, shape, proc.pid, fake.proc))
    stderr = (home / "serve.log").read_text(errors="replace")
    if "Traceback" in stderr:
        tally.errors.append("a worker logged a traceback: " + stderr.split("Traceback")[1][:300])
    _report(area, shape, tally, rss, _lost(database_url, tally))


@contextmanager
def serving(
    database_url: str, redis_url: str, ollama: str, home: Path, *, workers: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`storyterm serve` on a free port over these services (with `workers` API workers), its
    state under `home` and its log in `home`/serve.log: the process and its base URL; stopped
    (Ctrl-C, then killed after 30 s) on the way out."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYTERM_")}
    env.update(
        STORYTERM_DATABASE_URL=database_url,
        STORYTERM_REDIS_URL=redis_url,
        OLLAMA_HOST=ollama,
        STORYTERM_DATA_DIR=str(home / "data"),
        STORYTERM_CONFIG_DIR=str(home / "config"),
        STORYTERM_STATE_DIR=str(home / "state"),
    )
    serve = [sys.executable, "-m", "storyterm", "serve", "--port", str(port)]
    if workers is not None:
        serve += ["--workers", str(workers)]
    # The server's log goes to a file: a pipe nobody reads during the run would fill and stall
    # the workers.
    with (home / "serve.log").open("wb") as server_log:
        proc = subprocess.Popen(
            serve, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, timeout=60)
            yield proc, f"http://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _register(database_url: str, redis_url: str, writers: int) -> None:
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    runtime = Runtime(load_settings(database_url=database_url, redis_url=redis_url))
    try:
        for i in range(writers):
            runtime.identity.register(f"writer{i}", PASSWORD)
    finally:
        runtime.close()


async def _load(
    base: str, shape: Shape, server_pid: int, fake: Any
) -> tuple[Tally, dict[int, float]]:
    import httpx

    tally = Tally()
    limits = httpx.Limits(max_connections=4 * shape.writers + 10, max_keepalive_connections=None)
    timeout = httpx.Timeout(60.0, read=90.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        await _wait_ready(http)
        joined = await asyncio.gather(*(_join(http, i, tally) for i in range(shape.writers)))
        team = [(i, *pair) for i, pair in enumerate(joined) if pair is not None]
        tokens = [token for _i, token, _story in team]
        ready = [asyncio.Event() for _ in team]
        watchers = [
            asyncio.create_task(_watch(http, token, story, i, shape.parts, ready[n], tally))
            for n, (i, token, story) in enumerate(team)
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        except TimeoutError:
            tally.errors.append("not every watcher was listening after 60 s")
        lister = _Lister(base, tokens)
        log(f"{len(team)} watchers listening; {len(team)} writers start")
        workers = _workers(server_pid)
        cpu_before = {pid: _cpu_s(pid) for pid in [*workers, fake.pid]}
        client_before, wall_before = time.process_time(), time.perf_counter()
        machine_before = _machine_ticks()
        lister.start()
        writers = asyncio.gather(
            *(_write(http, token, story, i, shape.parts, tally) for i, token, story in team)
        )
        limit = _load_limit(shape)
        try:
            await asyncio.wait_for(writers, limit)
        except TimeoutError:
            tally.errors.append(f"the writers had not finished after {limit:.0f} s")
        rss = {pid: _peak_rss(pid) for pid in workers}
        wall = time.perf_counter() - wall_before
        cpu = {pid: _cpu_s(pid) - before for pid, before in cpu_before.items()}
        tally.cpu = {
            "the workers": sum(cpu[pid] for pid in workers),
            "the Ollama stand-in": cpu[fake.pid],
            "the client (every writer and watcher)": time.process_time() - client_before,
        }
        tally.wall = wall
        machine_after = _machine_ticks()
        if machine_before and machine_after and machine_after[1] > machine_before[1]:
            busy = machine_after[0] - machine_before[0]
            tally.machine_busy = busy / (machine_after[1] - machine_before[1])
        tally.list_ms, list_errors = lister.stop()
        tally.errors += list_errors
        # Each watcher ends once it has heard the last part finish (or after a grace period).
        _done, pending = await asyncio.wait(watchers, timeout=10)
        for task in pending:
            tally.errors.append("a watcher never heard its writer's last part finish")
            task.cancel()
    return tally, rss


def _load_limit(shape: Shape) -> float:
    """How long the load itself may run before what is unfinished counts as an error: three
    times the model's own time for the parts, and never under 150 s."""
    return max(150.0, 3 * shape.parts * shape.tokens / shape.rate)


async def _wait_ready(http: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get("/api/health")).status_code == 200:
                return
        except Exception:  # the workers are still starting
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not answer /api/health within 60 s")


async def _join(http: Any, i: int, tally: Tally) -> tuple[str, str] | None:
    """Writer i logs in and starts a story: (token, story id), or None (counted as an error)."""
    try:
        token = await _login(http, i)
        return token, await _start(http, token, i)
    except Exception as exc:
        tally.errors.append(f"writer {i} could not log in and start: {exc!r}")
        return None


async def _login(http: Any, i: int) -> str:
    response = await http.post(
        "/api/auth/login", json={"username": f"writer{i}", "password": PASSWORD}
    )
    response.raise_for_status()
    return str(response.json()["token"])


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _start(http: Any, token: str, i: int) -> str:
    response = await http.post(
        "/api/langchain/story/start",
        json={"title": f"Story {i}", "model": "gemma3:latest"},
        headers=_auth(token),
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def _frames(response: Any) -> Any:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:]), time.perf_counter()


async def _write(http: Any, token: str, story: str, i: int, parts: int, tally: Tally) -> None:
    for _ in range(parts):
        ends: list[tuple[int, float]] = []
        length = 0
        url = f"/api/langchain/story/{story}/continue"
        try:
            async with http.stream(
                "POST", url, json={"direction": "Go on."}, headers=_auth(token)
            ) as response:
                if response.status_code != 200:
                    tally.errors.append(
                        f"continue: {response.status_code} {await response.aread()!r}"
                    )
                    return
                async for event, data, at in _frames(response):
                    if event == "delta":
                        length += len(data["text"])
                        ends.append((length, at))
                    elif event == "done":
                        part = data["part"]
                        tally.written[(i, part["seq"])] = ends
                        tally.done[(i, part["seq"])] = part
                        if part["state"] != "done":
                            tally.errors.append(f"a part ended {part['state']}")
                    elif event == "error":
                        tally.errors.append(f"continue: error event {data}")
                        return
        except Exception as exc:
            tally.errors.append(f"continue: {exc.__class__.__name__}: {exc}")
            return


async def _watch(
    http: Any, token: str, story: str, i: int, parts: int, ready: asyncio.Event, tally: Tally
) -> None:
    url = f"/api/langchain/sessions/{story}/events"
    finished = 0
    try:
        async with http.stream("GET", url, headers=_auth(token)) as response:
            async for event, data, at in _frames(response):
                if event == "status":
                    if data["mode"] != "live":
                        tally.errors.append(f"a watcher is not live: {data}")
                    ready.set()
                elif event == "part.text":
                    key = (i, data["seq"])
                    text = tally.heard_text.get(key, "")
                    if data["offset"] != len(text):
                        tally.gaps += 1
                    text = text[: data["offset"]].ljust(data["offset"], "\0") + data["text"]
                    tally.heard_text[key] = text
                    tally.heard.setdefault(key, []).append((len(text), at))
                    tally.text_lag_ms.append((time.time() - data["at"]) * 1000)
                elif event == "part.finished":
                    finished += 1
                    if finished == parts:
                        return
    except Exception as exc:
        tally.errors.append(f"watcher: {exc.__class__.__name__}: {exc}")
        ready.set()


class _Lister:
    """The session list asked for every LIST_INTERVAL_S from a process of its own
    (bench/_list_probe.py) while the writers write: what one writer's client would see, not a
    wait for this process's own busy event loop."""

    def __init__(self, base: str, tokens: list[str]) -> None:
        probe = ROOT / "bench" / "_list_probe.py"
        self.proc = subprocess.Popen(
            [sys.executable, str(probe), base, str(LIST_INTERVAL_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(tokens) + "\n")
        self.proc.stdin.flush()

    def start(self) -> None:
        """Begin asking (the process is started ahead: its start-up is not the load's)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> tuple[list[float], list[str]]:
        """(each answer's time in ms, errors) once it has stopped."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=60)
            found = json.loads(out)
        except (subprocess.TimeoutExpired, ValueError) as exc:
            self.proc.kill()
            self.proc.wait()
            return [], [f"the session list's process gave no result: {exc!r}"]
        return list(found["ms"]), list(found["errors"])


def _workers(server_pid: int) -> list[int]:
    """The worker processes of `storyterm serve` (not multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != server_pid:
                continue
            if b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def _cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int] | None:
    """The machine's CPU ticks so far, busy and in all (/proc/stat), or None where unread."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def _peak_rss(pid: int) -> float:
    """A process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _lost(database_url: str, tally: Tally) -> list[str]:
    """Parts a writer was told were saved that the database does not hold as told (text and
    state), and parts left being written."""
    import psycopg

    lost = []
    with psycopg.connect(database_url) as conn:
        for (_writer, seq), part in tally.done.items():
            row = conn.execute(
                "SELECT content, state FROM story_parts WHERE session_id = %s AND seq = %s",
                (part["session_id"], seq),
            ).fetchone()
            if row is None or (row[0], row[1]) != (part["content"], part["state"]):
                lost.append(f"{part['session_id']} part {seq}")
        streaming = conn.execute("SELECT count(*) FROM story_parts WHERE state = 'streaming'")
        left = streaming.fetchone()
        if left and left[0]:
            lost.append(f"{left[0]} part(s) left 'streaming'")
    return lost


def _latencies(tally: Tally) -> tuple[list[float], int]:
    """Writer -> watcher, in ms, for every piece of text a writer received: until the watcher
    heard an event reaching its end. Also the characters a watcher never heard."""
    samples: list[float] = []
    missing = 0
    for key, ends in tally.written.items():
        heard = tally.heard.get(key, [])
        heard_ends = [end for end, _at in heard]
        for end, at in ends:
            k = bisect.bisect_left(heard_ends, end)
            if k < len(heard):
                samples.append((heard[k][1] - at) * 1000)
        text = tally.heard_text.get(key, "")
        content = tally.done[key]["content"]
        missing += len(content) - sum(1 for a, b in zip(text, content, strict=False) if a == b)
    return samples, missing


def _report(
    area: AreaResult, shape: Shape, tally: Tally, rss: dict[int, float], lost: list[str]
) -> None:
    expected = shape.writers * shape.parts
    on_client, missing = _latencies(tally)
    area.add(
        Figure(
            "parts lost (told saved, not in the database as told)",
            len(lost),
            "",
            "<=",
            0,
            f"of {len(tally.done)} parts written ({expected} asked)",
        )
    )
    area.add(
        Figure(
            "streamed text missing at a watcher",
            missing,
            "characters",
            "<=",
            0,
            f"{tally.gaps} gap(s) in the offsets heard",
        )
    )
    if tally.text_lag_ms:
        add_percentiles(
            area,
            "event latency: the model's text at the server -> a watcher has it",
            tally.text_lag_ms,
            target_p99=100.0,
        )
    if on_client:
        add_percentiles(area, "the same, from the writer's own stream (client-side)", on_client)
    if tally.list_ms:
        add_percentiles(area, "session list under load", tally.list_ms, target_p99=50.0)
    area.add(Figure("errors", len(tally.errors), "", "<=", 0, "requests and streams that failed"))
    for n, (_pid, mib) in enumerate(sorted(rss.items()), 1):
        area.add(Figure(f"peak RSS, worker {n}", mib, "MiB", how="VmHWM at the end of the load"))
    for what, seconds in tally.cpu.items():
        area.add(
            Figure(
                f"CPU used by {what} while the writers wrote",
                seconds,
                "s",
                how=f"over {tally.wall:.1f} s of wall time, {os.cpu_count()} cores",
            )
        )
    if tally.machine_busy is not None:
        area.add(
            Figure(
                "the machine's cores busy while the writers wrote (every process)",
                tally.machine_busy * 100,
                "%",
                how=f"of {os.cpu_count()} cores, PostgreSQL, Redis and the kernel included",
            )
        )
    for error in tally.errors[:5]:
        area.note(f"error: {error}")
    area.note(
        f"`storyterm serve --workers {shape.workers}` on a throwaway PostgreSQL (fsync off) and "
        f"Redis on loopback; {shape.writers} writers log in, start a story each and continue it "
        f"{shape.parts} time(s), all at once, the Ollama stand-in streaming {shape.tokens} "
        f"tokens a part at {shape.rate:g} tokens a second; {shape.writers} watchers, one on "
        "each story's event stream (`/sessions/{id}/events`), connected before the writers "
        "start; a session list (a different writer each time) asked for 50 ms after each answer "
        "while they write, from a process of its own (one keep-alive connection, as a "
        "writer's client would). Every writer and watcher is one asyncio client process "
        "(httpx) on the same machine. The latency target is judged on each `part.text` "
        "event's own stamp (when the model's text reached the publisher in the worker, "
        "time.time()) against the moment "
        "the watcher's client read it: the text's path through the worker, Redis, the "
        "watcher's worker and its SSE stream, plus the up to 40 ms of coalescing (25 events a "
        "second). The client-side row compares two streams read by the same busy client: a "
        "negative value means the writer's own stream reached the client later than the "
        "watcher's event did."
    )
