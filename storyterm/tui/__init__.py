"""The Textual front end: `run_tui(runtime)` opens the writing room.

The app module (and Textual with it) is imported only here, when the TUI is asked for, so that
the command line's subcommands never pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime


def run_tui(runtime: Runtime) -> None:
    """Open the TUI on `runtime` and return when the writer quits."""
    import gc

    from storyterm.tui.app import StorytermApp

    try:
        StorytermApp(runtime).run()
    finally:
        gc.enable()  # paused for start-up by the command line; back on however the app ended
