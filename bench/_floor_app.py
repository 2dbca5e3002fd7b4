"""The floor for start-up: a bare Textual app that shows one line, then reports and exits.

Run as a script (not through the bench package, so that it imports nothing storyterm does not):
``python bench/_floor_app.py REPORT_PATH [--rss]``. It writes ``{"ready": perf_counter()}`` to
REPORT_PATH once the line has been painted; perf_counter is CLOCK_MONOTONIC on Linux, so the
parent compares it with its own clock reading taken just before it started this process. With
--rss it adds its resident memory at that moment (``rss_mib``).
"""

from __future__ import annotations

import json
import sys
import time

STARTED = time.perf_counter()

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Static  # noqa: E402


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Floor(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("storyterm start-up floor: one line of text")

    def on_mount(self) -> None:
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        self.ready_at = time.perf_counter()
        self._report()

    def _report(self) -> None:
        data = {
            "ready": self.ready_at,
            "in_process_s": self.ready_at - STARTED,
            "cpu_seconds": time.process_time(),
        }
        if "--rss" in sys.argv:
            data["rss_mib"] = _rss_mib()
        with open(sys.argv[1], "w") as report:
            json.dump(data, report)
        self.exit()


if __name__ == "__main__":
    Floor().run()
