"""The house rules hold: the import contracts (front ends -> core -> ground floor, a core
without UI or HTTP, a first frame without the ORM, no import circles), ruff's lint with its
complexity cap, and mypy over storyterm/. They run with the suite, so CI holds them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept() -> None:
    done = _run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_ruff_finds_nothing_including_overly_complex_functions() -> None:
    done = _run(sys.executable, "-m", "ruff", "check", "storyterm", "tests", "bench")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_no_errors_in_storyterm() -> None:
    done = _run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout + done.stderr
