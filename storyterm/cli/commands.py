"""The command line: the `storyterm` group and its subcommands (click).

`storyterm` with no arguments skips all of this (storyterm/cli/__init__.py opens the writing
room directly); the group still opens it when invoked without a subcommand (tests, `python -m`
with options only).
"""

from __future__ import annotations

import gc

import click

from storyterm import __version__


class _Commands(click.Group):
    """The group whose subcommands are imported when one is looked up (or listed for help):
    `storyterm` with no arguments opens the TUI without importing every command module."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _register()
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="storyterm")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """storyterm: write long stories with a local AI model, part by part.

    Run with no arguments to open the writing room.

    Nothing written is lost: every part keeps its takes (versions, choose, edit,
    continue --regenerate), deleted stories and parts wait in the trash (trash, restore), and
    undo/redo step through your changes to a story.
    """
    if ctx.invoked_subcommand is None:
        gc.disable()  # see storyterm.cli.open_writing_room
        from storyterm.cli.common import get_runtime

        # Settings first: a broken config.toml is reported before Textual is even imported.
        runtime = get_runtime()
        from storyterm.tui import run_tui

        run_tui(runtime)


_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    from storyterm.cli import (
        auth,
        bible,
        db,
        export,
        history,
        lore,
        options,
        recover,
        search,
        serve,
        sessions,
        story,
        watch,
    )

    modules = (
        auth,
        sessions,
        search,
        story,
        bible,
        options,
        lore,
        history,
        recover,
        export,
        db,
        serve,
        watch,
    )
    for module in modules:
        for command in module.COMMANDS:
            cli.add_command(command)
