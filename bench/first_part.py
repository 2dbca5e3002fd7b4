"""Area 9, the writer's Enter: from Enter to the model's words on screen.

- Enter to the first token on screen, continuing the 1,000-part story (20 newest parts on
  screen) with the stand-in answering at once: App.run_test in an interpreter of its own,
  after two untimed parts. With a lorebook of 200 entries on the story.
- The first part after start-up: a fresh interpreter per sample, a fresh story; the writer
  reads for WAIT_S after the main screen is ready, then Enter; timed to the whole 5-token reply
  on screen, and the second part for comparison.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, AreaResult, Figure, add_percentiles, percentile
from bench.context import Context
from bench.data import Dataset
from bench.fake_server import FakeOllamaProcess
from bench.streaming import _markdown_text, lift_reply_cap
from bench.tui_harness import painted, require_tui, running_app, wait_until

TITLE = "From Enter to the model's words on screen"
FIRST_TOKEN_P50_MS = 100.0
FIRST_TOKEN_P99_MS = 200.0
FIRST_PART_MS = 250.0
#: Seconds the writer reads and types between the main screen and the first Enter.
WAIT_S = 2.0
LORE_ENTRIES = 200


def add_lore(runtime: Any, dataset: Dataset, entries: int) -> int:
    """A lorebook of `entries` on the big story, if this branch has lorebooks; how many."""
    try:
        from bench.lore_data import add_lorebook  # written with the lorebook
    except ImportError:
        return 0
    return add_lorebook(runtime, dataset.user_id, dataset.big_session_id, entries)


#: What the app looked like when a part did not end (reported in the area's notes).
stuck: list[str] = []


def _stuck(app: Any, screen: Any, seq: int) -> str:
    generation = screen.column.generation
    worker = generation._worker
    view = screen.story.part_view(seq)
    tasks = [repr(t.get_coro()) for t in asyncio.all_tasks() if "generat" in repr(t.get_coro())]
    return (
        f"part {seq} did not end: running={generation.running}, worker="
        f"{worker.state if worker else None} {worker.error if worker else ''}, view="
        f"{(view.part.state, view.streaming) if view else None}, notices="
        f"{[n.message for n in app._notifications][-3:]}, tasks={tasks}"
    )


async def first_tokens(dataset: Dataset, url: str, runs: int) -> tuple[list[float], int]:
    lore: list[int] = []

    def prepare(runtime: Any) -> None:
        lift_reply_cap(runtime)
        lore.append(add_lore(runtime, dataset, LORE_ENTRIES))

    samples: list[float] = []
    async with running_app(dataset, ollama_url=url, prepare=prepare) as (app, _pilot):
        screen = app.screen
        big = dataset.big_session_id
        await wait_until(
            lambda: screen.session is not None and screen.session.id == big,
            what="the big session to be open",
        )
        await asyncio.sleep(WAIT_S)  # the warm-up after the first frame, as a writer's reading
        for i in range(runs + 2):
            session = screen.session
            seq = session.part_count + 1
            t0 = time.perf_counter()
            screen.generate(session, "Mara reads the letter aloud.", regenerate=False)
            await wait_until(lambda s=seq: _markdown_text(screen, s), what="the first token")
            shown = await painted(app)
            if i >= 2:
                samples.append((shown - t0) * 1000)
            try:
                await wait_until(lambda: not screen.generating, timeout=30, what="the part's end")
            except TimeoutError:
                stuck.append(_stuck(app, screen, seq))
                break
    return samples, lore[0] if lore else 0


def _probe(script: str, *args: str, timeout: float) -> Any:
    """Run bench/`script` in a fresh interpreter; the JSON of its last line of output."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_tokens_apart(dataset: Dataset, url: str, runs: int) -> tuple[list[float], int]:
    """first_tokens in a fresh interpreter (bench/_first_token_probe.py)."""
    result = _probe(
        "_first_token_probe.py", json.dumps(dataset.to_json()), url, str(runs), timeout=600
    )
    stuck.extend(result["stuck"])
    return result["samples"], result["lore"]


def first_part_after_start(ctx: Context, url: str, runs: int) -> list[dict[str, float]]:
    from bench.data import empty_sqlite
    from bench.startup import login_token
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings

    results = []
    for i in range(runs):
        dataset = empty_sqlite(f"first-part-{i}")
        runtime = Runtime(load_settings(database_url=dataset.url, redis_url=""))
        try:
            runtime.sessions.start(dataset.user_id, "A fresh story", None, "gemma3:latest")
        finally:
            runtime.close()
        token = login_token(dataset.url, dataset.username, dataset.password) or ""
        state = Path(tempfile.mkdtemp(prefix="storyterm-bench-first-part-"))
        probe_args = (dataset.url, token, url, str(state), str(WAIT_S))
        results.append(_probe("_first_part_probe.py", *probe_args, timeout=180))
    return results


def run(ctx: Context, area: AreaResult) -> None:
    require_tui()
    runs = ctx.repeat(full=30, quick=3)
    starts = ctx.repeat(full=7, quick=1)
    with FakeOllamaProcess(tokens=5) as fake:
        dataset = ctx.sqlite_dataset("first-part-big")
        samples, lore = first_tokens_apart(dataset, fake.url, runs)
        fresh = first_part_after_start(ctx, fake.url, starts)
    for note in stuck:
        area.note(f"MISS: {note}")
    what = f"Enter to the first token on screen, 1,000-part story, {lore} lore entries"
    add_percentiles(area, what, samples, target_p99=FIRST_TOKEN_P99_MS)
    area.add(
        Figure(
            f"{what} (median)",
            percentile(samples, 50),
            "ms",
            "<=",
            FIRST_TOKEN_P50_MS,
            f"p50 of {len(samples)}",
        )
    )
    firsts = [r["first_ms"] for r in fresh]
    seconds = [r["second_ms"] for r in fresh]
    area.add(
        Figure(
            "first part after start-up: Enter to the whole 5-token reply on screen",
            percentile(firsts, 50),
            "ms",
            "<=",
            FIRST_PART_MS,
            f"median of {len(firsts)} fresh processes (max {max(firsts):.0f} ms)",
        )
    )
    area.add(
        Figure(
            "the second part after start-up, the same",
            percentile(seconds, 50),
            "ms",
            how=f"median of {len(seconds)}",
        )
    )
    area.note(
        "The stand-in (storyterm.devtools.fake_ollama, its own process) answers every request "
        "at once with 5 tokens. First token: the TUI runs headless (App.run_test, 160x45) in an "
        "interpreter of its own (bench/_first_token_probe.py; the benchmark's own holds what "
        "earlier areas left) on a copy of the 10,000-session database and continues the "
        "1,000-part story, timed from the "
        "call Enter makes (MainScreen.generate) to the first screen refresh showing text, after "
        f"two untimed parts. First part after start-up: each sample is a fresh interpreter on a "
        f"new database with one fresh story; the writer reads for {WAIT_S:.0f} s after the main "
        "screen is ready (the warm-up after the first frame runs then), then types x and "
        "presses Enter; timed from Enter to the refresh after the part is saved and shown (the "
        "keys go in without the pilot's waits for an idle process, which are not the writer's)."
    )
