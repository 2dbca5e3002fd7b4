"""storyterm: a terminal writing room for long stories with a local AI model."""

from __future__ import annotations

import logging as _logging
import time

__version__ = "0.1.0"

#: Monotonic time at which the package was first imported: the start-up clock the TUI reports
#: when its main screen is ready (the benchmark suite reads it).
IMPORTED_AT = time.perf_counter()

# A library must not print its warnings on a writer's screen (the TUI owns the terminal):
# nothing is shown unless a front end configures logging.
_logging.getLogger("storyterm").addHandler(_logging.NullHandler())
