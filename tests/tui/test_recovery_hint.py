"""The TUI says why text could not be saved and where it is kept (the core's message), and
that the app keeps trying to save it (core messages name no command or key)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.main.screen import MainScreen
from tests.disk_full import DiskFull, disk_full_switch
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


def _fill_once_streaming(fake: FakeOllama, disk: DiskFull) -> None:
    """The disk fills once the model has sent 100 tokens (watched here, not by the app's
    event loop, which would see it late)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        requests = fake.chat_requests
        if requests and len(requests[-1].sent) >= 100:
            disk.full.set()
            return
        time.sleep(0.005)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma3:latest"], tokens=1_500, rate=1_000) as server:
        yield server


@pytest.fixture
def disk() -> Iterator[DiskFull]:
    with disk_full_switch() as switch:
        yield switch


async def test_a_failed_save_names_the_recovery_file_and_the_command(
    disk: DiskFull, fake: FakeOllama, runtime: Runtime
) -> None:
    runtime.settings.ollama_host = fake.url
    runtime.settings.checkpoint_interval = 0.1
    alice = writer_id(runtime)
    seed_session(runtime, alice, "The Keeper's Letter", parts=1)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        threading.Thread(target=_fill_once_streaming, args=(fake, disk), daemon=True).start()
        await pilot.press(*"The storm", "enter")
        await wait_until(pilot, disk.full.is_set)
        await wait_until(pilot, lambda: not screen.generating, timeout=20)
        disk.full.clear()
        [said] = [n.message for n in app._notifications if "could not be saved" in n.message]
        assert "(the disk holding the database is full); they are kept in " in said
        assert "keeps trying to save them" in said  # the app saves it again itself (test_unsaved)
