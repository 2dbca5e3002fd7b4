"""The `storyterm` command: no arguments opens the TUI; subcommands script everything else.

`storyterm` alone is how a writer starts every day, so it goes straight to the writing room:
the command line (click and the subcommands, storyterm/cli/commands.py) is imported only when
there are arguments to parse.
"""

from __future__ import annotations

import gc
import sys
from typing import Any


def open_writing_room() -> None:
    """The TUI on the settings from the environment and config.toml, until the writer quits."""
    # No garbage collection until the main screen is ready (StorytermApp.mark_ready turns it
    # back on): start-up allocates a lot and frees little, and the collector's passes over the
    # growing heap cost ~10% of the time to the first useful frame.
    gc.disable()
    from storyterm.core.runtime import Runtime

    # Settings first: a broken config.toml is reported before Textual is even imported.
    runtime = Runtime()
    try:
        from storyterm.tui import run_tui

        run_tui(runtime)
    finally:
        runtime.close()


def main() -> None:
    from storyterm.errors import StorytermError

    try:
        if len(sys.argv) <= 1:
            open_writing_room()
            return
        from storyterm.cli.commands import cli

        cli(prog_name="storyterm")
    except StorytermError as exc:
        # Commands print their own errors (common.handle_errors); this catches what happens
        # before one runs, such as opening the writing room on a broken config.toml.
        from storyterm.core.text import terminal_safe

        print(f"storyterm: {terminal_safe(exc.message)}", file=sys.stderr)
        raise SystemExit(1) from None


def __getattr__(name: str) -> Any:
    # `from storyterm.cli import cli` (tests, scripts) loads the command line.
    if name in ("cli", "_register"):
        from storyterm.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
