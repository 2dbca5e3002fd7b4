"""CPU time per streamed token, through the real code paths (not a timed area: CPU time, not
latency, so it can be taken on a busy machine; bench/FINDINGS.md, "CPU per streamed token").

Run: ``python -m bench._token_cpu_probe [--writers 10] [--tokens 250] [--rate 50] [--repeat 3]
[--skip generation,api,writers] [--profile FILE]``. PostgreSQL and Redis of our own
(bench/servers.py), the Ollama stand-in in a process of its own at `--rate` tokens a second per
stream. Prints, in CPU ms per token (the median of `--repeat` runs, and each run):

- generation alone: `Storyteller.generate` consumed in this process (LangChain's ChatOllama,
  the reply, checkpoints, the live text handed to the publisher and sent to Redis), `--writers`
  generations at once, as one server worker runs them (`--profile`: cProfile of them);
- server: `storyterm serve` (one process, CPU read from /proc) while the writers continue their
  stories through the API, without watchers and with one watcher per story on its SSE events
  endpoint (per watcher: the difference; noisy);
- per watcher (watchers alone): the server while one watcher a story listens and the parts are
  written from this process's own core (no model, no writer's stream), divided by watchers.

With TOKENCPU_SPY=<folder>, py-spy (on PATH) samples the server during each API phase.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fake_server import FakeOllamaProcess  # noqa: E402
from bench.servers import Servers  # noqa: E402
from bench.team import (  # noqa: E402
    PASSWORD,
    _auth,
    _cpu_s,
    _frames,
    _login,
    _register,
    _start,
    serving,
)

Tally = dict[str, int]


async def _generation(
    pg: str, redis_url: str, ollama: str, writers: int, profile: str | None, repeat: int
) -> list[float]:
    """CPU seconds of this process per token, for `writers` generations at once (each of
    `repeat` rounds)."""
    from storyterm.core.generation.events import Failed, TextDelta
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    runtime = Runtime(load_settings(database_url=pg, redis_url=redis_url, ollama_host=ollama))
    try:
        users = [runtime.identity.login(f"writer{i}", PASSWORD)[0].id for i in range(writers)]
        stories = [runtime.sessions.start(u, f"Alone {u}", None, "gemma3:latest").id for u in users]
        teller = runtime.storyteller

        async def one(user: int, story: str) -> int:
            count = 0
            async for event in teller.generate(user, story, "Go on."):
                if isinstance(event, TextDelta):
                    count += 1
                elif isinstance(event, Failed):
                    raise RuntimeError(event.error.message)
            return count

        await one(users[0], stories[0])  # warm: imports, connections
        runtime.store.events.publisher.flush()
        profiler = cProfile.Profile() if profile else None
        results = []
        for _ in range(repeat):
            cpu = time.process_time()
            if profiler:
                profiler.enable()
            counts = await asyncio.gather(*(one(u, s) for u, s in zip(users, stories, strict=True)))
            runtime.store.events.publisher.flush()
            if profiler:
                profiler.disable()
            results.append((time.process_time() - cpu) / sum(counts))
        if profiler and profile:
            profiler.dump_stats(profile)
        return results
    finally:
        runtime.close()


async def _watcher(http: Any, token: str, story: str, ready: asyncio.Event, tally: Tally) -> None:
    url = f"/api/langchain/sessions/{story}/events"
    async with http.stream("GET", url, headers=_auth(token)) as response:
        async for event, _data, _at in _frames(response):
            if event == "status":
                ready.set()
            elif event == "part.text":
                tally["frames"] += 1
            elif event == "part.finished":
                return


async def _writer(http: Any, token: str, story: str, tally: Tally) -> None:
    url = f"/api/langchain/story/{story}/continue"
    body = {"direction": "Go on."}
    async with http.stream("POST", url, json=body, headers=_auth(token)) as response:
        async for event, data, _at in _frames(response):
            if event == "delta":
                tally["deltas"] += 1
            elif event == "done":
                tally["tokens"] += data["completion_tokens"] or 0
            elif event == "error":
                raise RuntimeError(data)


async def _through_api(base: str, writers: int, watch: bool, server_pid: int) -> tuple[float, int]:
    """(server CPU seconds, tokens) while every writer continues its story once."""
    import httpx

    limits = httpx.Limits(max_connections=4 * writers + 10, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=90) as http:
        tokens = [await _login(http, i) for i in range(writers)]
        stories = [await _start(http, t, i) for i, t in enumerate(tokens)]
        ready = [asyncio.Event() for _ in stories]
        tally: Tally = {"tokens": 0, "frames": 0, "deltas": 0}
        watchers = []
        if watch:
            watchers = [
                asyncio.create_task(_watcher(http, t, s, r, tally))
                for t, s, r in zip(tokens, stories, ready, strict=True)
            ]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
        await asyncio.sleep(0.5)
        spy = _spy(server_pid, "watch" if watch else "write")
        before = _cpu_s(server_pid)
        await asyncio.gather(
            *(_writer(http, t, s, tally) for t, s in zip(tokens, stories, strict=True))
        )
        await asyncio.wait_for(asyncio.gather(*watchers), 10)
        await asyncio.sleep(0.3)  # the publisher's and the listeners' last sends
        used = _cpu_s(server_pid) - before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        heard = f", watchers heard {tally['frames']} part.text frames" if watch else ""
        print(f"  {tally['tokens']} tokens in {tally['deltas']} delta frames{heard}", flush=True)
        return used, tally["tokens"]


async def _watchers_alone(
    base: str, pg: str, redis_url: str, writers: int, tokens: int, rate: float, server_pid: int
) -> tuple[float, int]:
    """(server CPU seconds, tokens x watchers) while a part of each story streams from this
    process (its own Store, as another server's worker would write it: no model, no writer's
    SSE) and one watcher a story listens on the server: the watchers' path alone."""
    import httpx

    from storyterm.core.basics import PartState
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    limits = httpx.Limits(max_connections=2 * writers + 10, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=90) as http:
        tokens_ = [await _login(http, i) for i in range(writers)]
        stories = [await _start(http, t, i) for i, t in enumerate(tokens_)]
        ready = [asyncio.Event() for _ in stories]
        tally: Tally = {"frames": 0}
        watchers = [
            asyncio.create_task(_watcher(http, t, s, r, tally))
            for t, s, r in zip(tokens_, stories, ready, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
        runtime = Runtime(load_settings(database_url=pg, redis_url=redis_url))
        sessions = runtime.sessions
        try:
            ids = [runtime.identity.login(f"writer{i}", PASSWORD)[0].id for i in range(writers)]
            parts = [
                sessions.begin_part(u, s, direction="go", model_name="m")
                for u, s in zip(ids, stories, strict=True)
            ]
            lives = [sessions.live_text(u, p) for u, p in zip(ids, parts, strict=True)]
            await asyncio.sleep(0.5)
            spy = _spy(server_pid, "watchers")
            before = _cpu_s(server_pid)
            for n in range(tokens):
                for live in lives:
                    live.add(f" word{n}")
                await asyncio.sleep(1 / rate)
            runtime.store.events.publisher.flush()
            for u, s, p in zip(ids, stories, parts, strict=True):
                sessions.checkpoint_part(u, s, p.seq, "done", state=PartState.DONE)
            await asyncio.wait_for(asyncio.gather(*watchers), 10)
            await asyncio.sleep(0.3)
            used = _cpu_s(server_pid) - before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        finally:
            runtime.close()
        print(f"  watchers alone heard {tally['frames']} part.text frames", flush=True)
        return used, tokens * writers


def _spy(pid: int, name: str) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server (all threads, no idle), when TOKENCPU_SPY names a folder."""
    folder = os.environ.get("TOKENCPU_SPY")
    if not folder:
        return None
    out = Path(folder) / f"{name}.txt"
    return subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(pid), "--format", "raw", "-r", "250"),
            *("--gil", "--nonblocking", "-o", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _writers(base: str, writers: int, repeat: int, pid: int) -> None:
    alone, watched = [], []
    for _ in range(repeat):
        cpu, n = asyncio.run(_through_api(base, writers, False, pid))
        alone.append(cpu / n)
        cpu, n = asyncio.run(_through_api(base, writers, True, pid))
        watched.append(cpu / n)
    print(f"server, no watchers, ms/token: {_ms(alone)}", flush=True)
    print(f"server, one watcher a story, ms/token: {_ms(watched)}", flush=True)
    each = [w - a for w, a in zip(watched, alone, strict=True)]
    print(f"per watcher (difference), ms/token: {_ms(each)}", flush=True)


def _ms(values: list[float]) -> str:
    """Median (and each run) in ms."""
    ordered = sorted(values)
    runs = " ".join(f"{1000 * v:.3f}" for v in values)
    return f"{1000 * ordered[len(ordered) // 2]:.3f} (runs: {runs})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--profile", help="cProfile the generation alone into this file")
    parser.add_argument("--skip", default="", help="generation,api,writers: parts not to run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    servers = Servers()
    try:
        pg, redis_url = servers.postgres_url(), servers.redis_url()
        _register(pg, redis_url, args.writers)
        with FakeOllamaProcess(tokens=args.tokens, rate=args.rate) as fake:
            if "generation" not in args.skip:
                gen = asyncio.run(
                    _generation(pg, redis_url, fake.url, args.writers, args.profile, args.repeat)
                )
                print(f"generation alone, ms/token: {_ms(gen)}", flush=True)
            if "api" in args.skip:
                return
            home = Path(tempfile.mkdtemp(prefix="storyterm-tokencpu-"))
            with serving(pg, redis_url, fake.url, home) as (proc, base):
                asyncio.run(_through_api(base, args.writers, False, proc.pid))  # warm
                if "writers" not in args.skip:
                    _writers(base, args.writers, args.repeat, proc.pid)
                only = []
                for _ in range(args.repeat):
                    cpu, n = asyncio.run(
                        _watchers_alone(
                            base, pg, redis_url, args.writers, args.tokens, args.rate, proc.pid
                        )
                    )
                    only.append(cpu / n)
                print(f"per watcher (watchers alone), ms/token: {_ms(only)}", flush=True)
    finally:
        servers.close()


if __name__ == "__main__":
    main()
