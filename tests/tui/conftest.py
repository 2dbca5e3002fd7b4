"""Fixtures for the TUI tests: a runtime on a fresh SQLite file, seen as the writer "alice"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    # The local writer is named after the OS login: pin it so screens and snapshots agree.
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "alice")
    runtime = Runtime(load_settings())
    yield runtime
    runtime.close()
