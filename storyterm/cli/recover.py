"""`storyterm recover [FILE]`: text a failed save could not store (a full disk, a database that
was down), kept in a recovery file (core/recovery.py), listed and put back into its story."""

from __future__ import annotations

from pathlib import Path

import click

from storyterm.cli.common import current_user_id, get_runtime, handle_errors, say, styled
from storyterm.core import recovery
from storyterm.core.text import terminal_line


@click.command("recover")
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@handle_errors
def recover_cmd(file: Path | None) -> None:
    """List the recovery files (text a failed save kept), or put FILE's text back into its
    story: into its part (as a new take when the part has changed since), or as a new part at
    the end when its part is gone. The file is deleted once its text is back."""
    runtime = get_runtime()
    if file is None:
        _list(runtime.settings.state_dir)
        return
    found = recovery.read_recovery(file)
    user_id = current_user_id(runtime)
    part, how = recovery.put_back(runtime.sessions, runtime.history, user_id, found)
    try:
        file.unlink()
    except OSError as exc:
        say(
            styled(
                f"storyterm: the text is back, but {file} could not be deleted ({exc}).", dim=True
            ),
            err=True,
        )
    say(f"The {part.word_count:,} words are back: {how}.")


def _list(state_dir: Path) -> None:
    found = recovery.list_recoveries(state_dir)
    if not found:
        say("No recovery files: every word was saved.", err=True)
        return
    for item in found:
        unsaved = item.unsaved
        say(str(item.path))
        say(
            styled(
                f"  “{terminal_line(unsaved.title)}” part {unsaved.seq} · {item.words:,} words · "
                f"{unsaved.written_at} · {unsaved.cause}",
                dim=True,
            )
        )
    say(styled("Put one back with: storyterm recover FILE", dim=True), err=True)


COMMANDS = [recover_cmd]
