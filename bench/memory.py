"""Area 6, memory: resident memory (RSS) of storyterm with the 1,000-part session open on its
main screen, beside an empty database and the bare Textual app, each a fresh process on a
pseudo-terminal, read from /proc once the app has been ready for a second."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, AreaResult, Figure, Skip, median, rss_mib
from bench.context import Context
from bench.pty_run import launch
from bench.startup import _base_env, _storyterm_ready, login_token, storyterm_env

TITLE = "Memory with the 1,000-part session open"


def run(ctx: Context, area: AreaResult) -> None:
    try:
        import storyterm.tui  # noqa: F401
    except ImportError as exc:
        raise Skip("storyterm.tui is not on this branch yet") from exc
    runs = ctx.repeat(full=3, quick=1)
    scratch = Path(tempfile.mkdtemp(prefix="storyterm-bench-memory-"))
    report = scratch / "ready.json"
    floor = [
        launch(
            [sys.executable, str(ROOT / "bench" / "_floor_app.py"), str(report), "--rss"],
            report,
            env=_base_env(),
            cwd=ROOT,
            ready=lambda r: float(r["ready"]),
        ).report["rss_mib"]
        for _ in range(runs)
    ]
    how = f"median of {runs} processes"
    area.add(
        Figure("bare Textual app showing one line (when ready)", median(floor), "MiB", how=how)
    )
    empty = ctx.empty_dataset("memory-empty")
    full = ctx.sqlite_dataset("memory-full")
    for name, dataset in (
        ("storyterm, empty database", empty),
        (f"storyterm, {dataset_label(ctx)} with the {full.big_parts:,}-part session open", full),
    ):
        token = login_token(dataset.url, dataset.username, dataset.password)
        env = storyterm_env(scratch / "home", dataset.url, token)
        env["STORYTERM_STARTUP_REPORT"] = str(report)
        samples = [
            launch(
                [sys.executable, "-m", "storyterm"],
                report,
                env=env,
                cwd=ROOT,
                ready=_storyterm_ready,
                on_ready=rss_mib,
                settle=1.0,
            ).extra
            for _ in range(runs)
        ]
        area.add(Figure(name, median(samples), "MiB", how=how))
    area.note(
        "VmRSS of the app's own process (python -m storyterm), one second after it reported its "
        "main screen ready with the newest session's story shown. No target is set by the issue."
    )


def dataset_label(ctx: Context) -> str:
    return f"{ctx.size.sessions:,} sessions"
