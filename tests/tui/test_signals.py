"""The real app on a pseudo-terminal, stopped by SIGTERM (`kill`, a logout) or SIGHUP (the
terminal closed) while a part streams: it quits the way ctrl+q does, so the part is saved with
its text and marked interrupted, and the story can be continued at once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.devtools.fake_ollama import FakeOllama
from tests.helpers import login_as
from tests.pty_app import PtyApp


@pytest.mark.parametrize(
    ("signum", "hang_up"),
    [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGHUP, True)],
    ids=["SIGTERM", "SIGHUP", "terminal-closed"],
)
def test_a_stop_signal_mid_stream_saves_the_part(
    signum: signal.Signals, hang_up: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `hang_up` the terminal is gone first (its master side closed, so every write the
    app makes fails), as when a terminal window is closed."""
    account = login_as(monkeypatch, "mara")
    runtime = Runtime()
    try:
        session = runtime.sessions.start(account.id, "Salt Roads", None, "gemma3:latest")
    finally:
        runtime.close()
    report = tmp_path / "ready.json"
    with FakeOllama(tokens=3000, rate=60.0) as fake:
        env = {
            **os.environ,
            "OLLAMA_HOST": fake.url,
            "STORYTERM_STARTUP_REPORT": str(report),
            # No checkpoint falls due while the part streams: what is saved got there by the stop.
            "STORYTERM_CHECKPOINT_INTERVAL": "60",
        }
        with PtyApp(env, ready_file=report) as app:
            app.wait_for(b"Salt Roads")
            app.press(*"Go", "enter")
            end = time.monotonic() + 30
            while not (fake.chat_requests and len(fake.chat_requests[-1].sent) >= 60):
                assert time.monotonic() < end, "the model never got going"
                app._read(0.05)
            if hang_up:
                os.close(app.master)
                app.master = os.open(os.devnull, os.O_RDWR)  # for PtyApp's own clean-up
            app.proc.send_signal(signum)
            signalled = time.monotonic()
            while app.proc.poll() is None and time.monotonic() - signalled < 15:
                if hang_up:
                    time.sleep(0.05)
                else:
                    app._read(0.05)
            assert app.proc.poll() is not None, "the app did not quit on the signal"
        sent = fake.chat_requests[-1].text_sent
    runtime = Runtime()
    try:
        [part] = runtime.sessions.all_parts(account.id, session.id)
    finally:
        runtime.close()
    assert part.state is PartState.INTERRUPTED
    assert len(part.content.split()) >= 50 and sent.startswith(part.content)
