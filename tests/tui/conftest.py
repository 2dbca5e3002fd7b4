"""Fixtures for the TUI tests: a runtime on a fresh SQLite file, logged in as "alice"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.settings import load_settings
from tests.helpers import login_as


@pytest.fixture
def fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A first run: an empty database, nobody logged in, the OS login named "alice"."""
    # The new-account form offers the OS login name: pin it so screens and snapshots agree.
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "alice")
    runtime = Runtime(load_settings())
    yield runtime
    runtime.close()


@pytest.fixture
def runtime(fresh_runtime: Runtime) -> Runtime:
    """A writer who has logged in before: alice's token is in the (test) keyring."""
    login_as(fresh_runtime, "alice")
    return fresh_runtime


@pytest.fixture
def writing(runtime: Runtime, fake: FakeOllama) -> Runtime:
    """alice's runtime writing through the test module's own stand-in (its `fake` fixture),
    checkpointing every 0.2 s."""
    runtime.settings.ollama_host = fake.url
    runtime.settings.checkpoint_interval = 0.2
    return runtime


@pytest.fixture(autouse=True)
def unexpected_errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Every error a TUI test's app reports as unexpected. The app now carries on after one
    (no traceback, no exit), which would hide a bug from a test: a test that causes such an
    error on purpose takes this list, checks it and empties it; any error left fails the test."""
    from storyterm.tui.app import StorytermApp

    seen: list[BaseException] = []
    report = StorytermApp.report_unexpected

    def recording(self: StorytermApp, error: BaseException, where: str = "the TUI") -> str:
        seen.append(error)
        return report(self, error, where)

    monkeypatch.setattr(StorytermApp, "report_unexpected", recording)
    yield seen
    if seen:
        pytest.fail(f"the app reported unexpected errors: {seen!r}")
