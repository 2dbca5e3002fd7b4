"""The first part after start-up finds everything it needs loaded: the warm-up after the first
frame (Generation.warm) leaves no module for the writer's first Enter to import on the event
loop, where each one held up the part on screen (bench/FINDINGS.md, the first part)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storyterm.core.runtime import Runtime
from tests.helpers import login_as

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, sys
from storyterm.core.runtime import Runtime
from storyterm.devtools.fake_ollama import FakeOllama
from storyterm.tui.app import StorytermApp
from storyterm.tui.main import generation

warmed = []
warm = generation.Generation._warm

def warm_and_tell(self, freeze):
    warm(self, freeze)
    warmed.append(True)

generation.Generation._warm = warm_and_tell
seen = {}

async def until(predicate):
    for _ in range(3000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(predicate)

async def main():
    with FakeOllama(models=["gemma3:latest"], tokens=5) as fake:
        runtime = Runtime()
        runtime.settings.ollama_host = fake.url
        app = StorytermApp(runtime)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.startup_seconds is not None)
            # The writer reads a while: the warm-up and the login's full check are done.
            await until(lambda: warmed and app.runtime.unconfirmed_login is None)
            screen = app.screen
            await pilot.press(*"Mara")
            before = set(sys.modules)
            await pilot.press("enter")
            await until(lambda: screen.session.part_count == 1 and not screen.generating)
            seen["loaded"] = sorted(set(sys.modules) - before)
            stored = runtime.sessions.open(screen.session.user_id, screen.session.id).parts
            seen["saved"] = stored[0].content
            seen["shown"] = screen.story.part_view(1).shown_text

asyncio.run(main())
print(json.dumps(seen))
"""


def test_the_first_part_after_start_up_imports_nothing_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alice = login_as(monkeypatch, "alice")  # STORYTERM_TOKEN: the subprocess is logged in
    runtime = Runtime()
    try:
        runtime.sessions.start(alice.id, "A Fresh Story", None, "gemma3:latest")
    finally:
        runtime.close()
    probe = tmp_path / "probe.py"  # a file: Textual resolves CSS paths from the class's source
    probe.write_text(PROBE)
    result = subprocess.run(
        [sys.executable, str(probe)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["saved"].strip() and seen["shown"].strip() == seen["saved"].strip()
    assert seen["loaded"] == [], "imported while the first part was written"
