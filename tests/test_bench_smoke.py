"""The benchmark suite still runs (speed is never asserted: bench/RESULTS.md reports it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_run_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--no-servers",
            "--only",
            "search",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = out.read_text()
    assert "## 6. Search and filter over 10,000 sessions" in report
    assert "first page, all sessions — SQLite" in report
    assert "PostgreSQL: not measured — --no-servers was given" in report
    assert "| pass |" in report or "**MISS**" in report
    assert (tmp_path / "RESULTS.json").exists()


def test_unknown_area_is_refused_with_the_list() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no area named nonsense" in done.stderr and "search" in done.stderr


def test_quick_team_run_loses_nothing(tmp_path: Path) -> None:
    """The team area's smoke run: `serve --workers 2`, 4 writers and 4 watchers on PostgreSQL
    and Redis. What it judges by count (parts lost, text missing, errors) must be zero; its
    times are the report's business."""
    import shutil

    from tests.conftest import service_missing
    from tests.services import PG_BIN_DIRS

    if not PG_BIN_DIRS or shutil.which("redis-server") is None:
        service_missing("the team area needs the PostgreSQL and Redis server binaries")
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "team", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = out.read_text()
    assert ". A team on one server: 50 writers and 50 watchers" in report
    for row in ("parts lost", "streamed text missing at a watcher", "errors"):
        line = next(line for line in report.splitlines() if line.startswith(f"| {row}"))
        assert line.endswith("| pass |"), line
    assert "peak RSS, worker 2" in report
