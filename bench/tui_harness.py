"""Running the real storyterm TUI headless (App.run_test) against a benchmark dataset, and
telling when something is on screen."""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.common import Skip
from bench.data import Dataset
from bench.startup import login_token

SIZE = (160, 45)


def require_tui() -> None:
    try:
        import storyterm.tui.app  # noqa: F401
    except ImportError as exc:
        raise Skip("storyterm.tui is not on this branch yet") from exc


async def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> None:
    """Poll `predicate` every 2 ms on the app's own loop (as the screen would show it)."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what or predicate}")
        await asyncio.sleep(0.002)


async def painted(app: Any) -> float:
    """Wait for the next screen refresh; return the perf_counter moment it was done."""
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def mark() -> None:
        if not done.done():
            done.set_result(time.perf_counter())

    app.call_after_refresh(mark)
    return await done


@asynccontextmanager
async def running_app(
    dataset: Dataset,
    *,
    redis_url: str | None = None,
    ollama_url: str | None = None,
    size: tuple[int, int] = SIZE,
    prepare: Callable[[Any], None] | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """The storyterm app on `dataset`, logged in as its writer, main screen ready."""
    require_tui()
    from storyterm.core.runtime import Runtime
    from storyterm.settings import load_settings
    from storyterm.tui.app import StorytermApp

    home = Path(tempfile.mkdtemp(prefix="storyterm-bench-tui-"))
    settings = load_settings(
        database_url=dataset.url,
        redis_url=redis_url or "",
        ollama_host=ollama_url or "http://127.0.0.1:9",
        token=login_token(dataset.url, dataset.username, dataset.password),
        data_dir=home / "data",
        config_dir=home / "config",
        export_dir=home / "exports",
    )
    # Start the app as the command line does (storyterm.cli): the collector paused until the
    # main screen is ready, when StorytermApp.mark_ready freezes what start-up built and turns
    # it back on. With the collector left on, every full collection walked the whole start-up
    # heap (~230,000 objects with the benchmark's own, ~160 ms here), which the writer's app
    # never walks; what is built after ready (~100,000 objects) is walked here as there.
    gc.collect()
    gc.disable()
    runtime = Runtime(settings)
    if prepare is not None:
        prepare(runtime)
    app = StorytermApp(runtime)
    try:
        async with app.run_test(size=size) as pilot:
            await wait_until(lambda: app.startup_seconds is not None, what="the main screen")
            await pilot.pause()
            yield app, pilot
    finally:
        runtime.close()
        gc.unfreeze()  # the next app starts from a clean slate
        gc.enable()
        gc.collect()
