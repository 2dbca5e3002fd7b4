"""`python -m bench [--quick] [--only AREA[,AREA]]`: run the benchmark suite, write RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from bench.common import BENCH_DIR, OUT_DIR, AreaResult, Skip, loadavg, log, machine, now_text
from bench.context import Context
from bench.report import load_results, merge, render

#: (key, module, title) in the order the report shows them (the issue's numbering).
AREAS: list[tuple[str, str, str]] = [
    ("startup", "bench.startup", "Start-up to the main screen"),
    ("streaming", "bench.streaming", "Streaming a long part onto the screen"),
    ("opening", "bench.opening", "Opening the 1,000-part session, 5 takes of every part (core)"),
    (
        "tui_open",
        "bench.tui_open",
        "Opening the 1,000-part session, 5 takes of every part (on screen)",
    ),
    ("saving", "bench.saving", "Saving parts and checkpoints"),
    ("search", "bench.search", "Search and filter over 10,000 sessions"),
    ("memory", "bench.memory", "Memory with the 1,000-part session open"),
    ("export", "bench.export", "Export of the 1,000-part session"),
    ("first_part", "bench.first_part", "From Enter to the model's words on screen"),
    ("fulltext", "bench.fulltext", "Searching inside stories over 10,000 sessions"),
    ("team", "bench.team", "A team on one server: 50 writers and 50 watchers, 4 API workers"),
    ("lore", "bench.lore", "Lorebook matching: 200 entries, 4 parts and the direction"),
    ("live", "bench.live", "Live events: a token streamed in one window, on screen in another"),
]
#: The order they run in: the PostgreSQL dataset is shared, and saving adds rows to it.
RUN_ORDER = [
    "search",
    "opening",
    "saving",
    "startup",
    "tui_open",
    "memory",
    "streaming",
    "export",
    "first_part",
    "team",
    "lore",
    "live",
    # Last: it edits a part of the shared PostgreSQL dataset (a take the others would count).
    "fulltext",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: small dataset, few samples"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="AREA",
        help="run only these areas (repeat or comma-separate): " + ", ".join(a[0] for a in AREAS),
    )
    parser.add_argument(
        "--no-servers",
        action="store_true",
        help="start no Redis or PostgreSQL (their figures are left out, and say so)",
    )
    parser.add_argument(
        "--calm",
        type=float,
        default=None,
        metavar="LOAD",
        help="before each area, wait (up to 5 minutes) until the 1-minute load average is below "
        "LOAD: the machine may be shared, and other work inflates the tails",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=None,
        metavar="N",
        help="change this process's priority by N (negative needs root), so that other work on "
        "a shared machine disturbs the tails less; recorded in the report",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the report (default bench/RESULTS.md; bench/out/RESULTS-quick.md "
        "with --quick)",
    )
    args = parser.parse_args(argv)
    known = {key: (module, title) for key, module, title in AREAS}
    only = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
    unknown = [name for name in only if name not in known]
    if unknown:
        parser.error(f"no area named {', '.join(unknown)}; the areas are: {', '.join(known)}")
    selected = [key for key in RUN_ORDER if not only or key in only]

    out = args.out or (OUT_DIR / "RESULTS-quick.md" if args.quick else BENCH_DIR / "RESULTS.md")
    store_path = out.with_suffix(".json")
    words = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m bench", *(shlex.quote(a) for a in words)])

    if args.nice is not None:
        try:
            os.nice(args.nice)
        except PermissionError:
            parser.error(f"--nice {args.nice}: raising the priority needs root")
    ctx = Context(quick=args.quick)
    if args.no_servers:
        ctx.servers.disable("--no-servers was given")
    results: list[AreaResult] = []
    failed = False
    info = machine()
    info["priority (nice)"] = str(os.nice(0))
    try:
        for key in selected:
            module_name, title = known[key]
            area = AreaResult(
                key=key, title=title, date=now_text(), command=command, quick=args.quick
            )
            log(f"== {title}")
            if args.calm is not None:
                wait_for_calm(args.calm)
            # What earlier areas wrote (dataset copies, exports, launches' files) would otherwise
            # be written back by the kernel during this area's measurements.
            os.sync()
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
                module.run(ctx, area)
            except Skip as exc:
                area.skipped = str(exc)
                log(f"skipped: {exc}")
            except Exception as exc:
                failed = True
                area.skipped = f"failed: {exc.__class__.__name__}: {exc}"
                traceback.print_exc()
            area.seconds = time.perf_counter() - t0
            area.load = loadavg()
            for figure in area.figures:
                p50 = f"p50 {figure.p50:.2f}  " if figure.p50 is not None else ""
                log(f"  {figure.name}: {p50}{figure.value:.2f} {figure.unit} [{figure.verdict}]")
            results.append(area)
    finally:
        info.update(ctx.servers.versions)
        ctx.close()
    previous = load_results(store_path)
    # Server versions seen by an earlier run still describe that run's figures.
    for name in ("Redis", "PostgreSQL"):
        info.setdefault(name, previous.get("machine", {}).get(name, "not used"))
    merged = merge(previous, info, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    store_path.write_text(json.dumps(merged, indent=1) + "\n")
    out.write_text(render(merged, [(key, title) for key, _m, title in AREAS]))
    log(f"wrote {out}")
    return 1 if failed else 0


def wait_for_calm(limit: float, patience: float = 300.0) -> None:
    deadline = time.monotonic() + patience
    while True:
        load = float(loadavg().split()[0])
        if load < limit:
            return
        if time.monotonic() > deadline:
            log(f"load is still {load:.2f} after {patience:.0f} s; measuring anyway")
            return
        log(f"load {load:.2f} >= {limit}; waiting for the machine to calm down")
        time.sleep(15)


if __name__ == "__main__":
    sys.exit(main())
