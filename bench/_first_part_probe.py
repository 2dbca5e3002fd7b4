"""The first part after start-up, in a fresh interpreter (as a writer's first Enter finds it).

Run as a script: ``python bench/_first_part_probe.py DATABASE_URL TOKEN OLLAMA_URL STATE_DIR
WAIT_S``. The app starts headless (App.run_test, 160x45) on the database, logged in with TOKEN,
its newest story fresh (no part); once the main screen is ready it waits WAIT_S (the writer
reads and types a direction), then writes a part and another one, each timed from Enter to the
whole reply on screen (saved, and drawn as saved). Prints one JSON line: {"first_ms": ...,
"second_ms": ...}.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def main(url: str, token: str, ollama: str, state: Path, wait: float) -> dict[str, float]:
    from bench.tui_harness import painted, wait_until
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings
    from storyterm.tui.app import StorytermApp

    settings = load_settings(
        database_url=url,
        redis_url="",
        ollama_host=ollama,
        token=token,
        data_dir=state / "data",
        config_dir=state / "config",
        export_dir=state / "exports",
        state_dir=state / "state",
    )
    gc.disable()  # as the command line starts the app (StorytermApp.mark_ready turns it on)
    app = StorytermApp(Runtime(settings))
    times: dict[str, float] = {}
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(lambda: app.startup_seconds is not None, what="the main screen")
        await asyncio.sleep(wait)
        screen = app.screen
        for name in ("first_ms", "second_ms"):
            session = screen.session
            before = session.part_count
            field = screen.column.direction_bar.input
            # The writer types a direction, then presses Enter. The pilot's press waits for
            # the process to go idle after each key (Textual's wait_for_idle: until a 20 ms
            # slice takes under 1 ms of CPU), which is the harness's wait, not the writer's:
            # the keys go in as a writer's would, and the clock watches the screen.
            typed = asyncio.ensure_future(pilot.press("x"))
            await wait_until(lambda field=field: field.text.endswith("x"), what="the x typed")
            t0 = time.perf_counter()
            enter = asyncio.ensure_future(pilot.press("enter"))

            def done(before: int = before) -> bool:
                shown = screen.session
                return (
                    shown is not None
                    and shown.part_count > before
                    and not screen.generating
                    and screen.story.part_view(before + 1) is not None
                )

            await wait_until(done, timeout=60, what="the part on screen")
            times[name] = (await painted(app) - t0) * 1000
            await asyncio.gather(typed, enter)
            await asyncio.sleep(0.3)
    return times


if __name__ == "__main__":
    url, token, ollama, state, wait = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(url, token, ollama, Path(state), float(wait)))))
