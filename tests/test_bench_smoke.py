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
