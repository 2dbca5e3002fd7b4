"""What every benchmark area shares: timing, percentiles, figures with targets, the machine."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: Scratch space: dataset templates, working copies, profiles. Gitignored.
OUT_DIR = BENCH_DIR / "out"


@dataclass
class Figure:
    """One measured number, with the target it is judged against (if any)."""

    name: str
    value: float
    unit: str
    #: "<=" or ">=" against `target`; None: reported for information only.
    op: str | None = None
    target: float | None = None
    #: How the number was obtained ("p99 of 200", "median of 9 runs").
    how: str = ""
    note: str = ""
    #: For a percentile figure: the median, shown beside the judged p99.
    p50: float | None = None
    #: For a percentile figure: the slowest sample.
    worst: float | None = None

    @property
    def verdict(self) -> str:
        if self.op is None or self.target is None:
            return "info"
        ok = self.value <= self.target if self.op == "<=" else self.value >= self.target
        return "pass" if ok else "MISS"

    def target_text(self) -> str:
        if self.op is None or self.target is None:
            return "—"
        return f"{self.op} {fmt(self.target, self.unit)}"


@dataclass
class AreaResult:
    """The figures of one area, from one run."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    date: str = ""
    command: str = ""
    quick: bool = False
    #: The 1/5/15-minute load average when the area ended (the machine is shared).
    load: str = ""

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AreaResult:
        figures = [Figure(**f) for f in data.pop("figures", [])]
        return cls(figures=figures, **data)


class Skip(Exception):
    """An area cannot run here (a server or a module is missing); the reason is reported."""


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        text = f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
        return f"{text} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.0f}%"
    if unit in ("tok/s", "MiB", "words", "KiB"):
        return f"{value:,.0f} {unit}"
    return f"{value:g} {unit}".strip()


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def time_calls(
    call: Callable[[int], Any], n: int, warmup: int = 3, before: Callable[[int], Any] | None = None
) -> list[float]:
    """Run `call(i)` n times (after `warmup` unmeasured runs); return each duration in ms.

    `before(i)` runs untimed ahead of each call (setup that must not be measured).
    """
    for i in range(warmup):
        if before:
            before(-1 - i)
        call(-1 - i)
    samples = []
    for i in range(n):
        if before:
            before(i)
        t0 = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples


def add_percentiles(
    area: AreaResult,
    name: str,
    samples: list[float],
    *,
    target_p99: float | None = None,
    note: str = "",
) -> Figure:
    """One figure: the p99 of `samples` (ms), judged against the target, with the p50 beside."""
    return area.add(
        Figure(
            name,
            percentile(samples, 99),
            "ms",
            "<=" if target_p99 is not None else None,
            target_p99,
            f"p50/p99 of {len(samples)} calls",
            note,
            p50=percentile(samples, 50),
            worst=max(samples),
        )
    )


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed: ...; elapsed()` gives milliseconds since the start."""
    t0 = time.perf_counter()
    yield lambda: (time.perf_counter() - t0) * 1000


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line in /proc status")


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    import sqlalchemy
    import textual

    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "SQLAlchemy": sqlalchemy.__version__,
        "Textual": textual.__version__ if hasattr(textual, "__version__") else _dist("textual"),
        "load average at start (1/5/15 min)": load,
    }


def _dist(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def now_text() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)
