"""`storyterm export ID` and `storyterm import FILE`: a story to a folder of files and back."""

from __future__ import annotations

from pathlib import Path

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    require_user,
    say,
)
from storyterm.cli.sessions import resolve_session_id
from storyterm.core.export import FORMATS, ExportResult
from storyterm.errors import ExportError
from storyterm.settings import DEFAULT_EXPORT_FORMATS


@click.command("export")
@click.argument("session_id")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Export directory (default: the export_dir setting, a storyterm folder in your "
    "documents folder). The story goes into a folder of its own inside it.",
)
@click.option(
    "--format",
    "formats",
    default=None,
    metavar="LIST",
    help=f"Comma-separated formats: {', '.join(FORMATS)}, or all. md also writes one "
    "part-NNN.md per part. [default: the export_formats setting, "
    f"{','.join(DEFAULT_EXPORT_FORMATS)}]",
)
@handle_errors
def export_cmd(session_id: str, out_dir: Path | None, formats: str | None) -> None:
    """Export a story to a folder of files: Markdown, plain text, JSON (re-importable), EPUB.

    Exporting again updates the folder in place.
    """
    from storyterm.core.export import export_session

    runtime = get_runtime()
    account = require_user(runtime)
    user_id = account.id
    session_id = resolve_session_id(runtime, user_id, session_id)
    try:
        result = export_session(
            runtime.sessions,
            user_id,
            session_id,
            out_dir=out_dir if out_dir is not None else runtime.settings.export_dir,
            formats=formats if formats is not None else runtime.settings.export_formats,
            author=account.username,
        )
    except ExportError as exc:
        if exc.another_folder:  # the core names no command; this is the CLI's way
            exc.message += f" `storyterm export {session_id[:8]} --out DIR` exports elsewhere."
            exc.args = (exc.message,)
        raise
    _print_result(result)


def _print_result(result: ExportResult) -> None:
    parts = f"{result.part_count:,} part" + ("" if result.part_count == 1 else "s")
    say(f"Exported {parts}, {result.word_count:,} words, to {result.folder}")
    part_files = [f for f in result.files if f.name.startswith("part-")]
    for path in result.files:
        if path not in part_files:
            say(f"  {path.name}")
    if len(part_files) > 3:
        say(f"  {part_files[0].name} … {part_files[-1].name} ({len(part_files):,} files)")
    else:
        for path in part_files:
            say(f"  {path.name}")
    if result.removed:
        names = ", ".join(p.name for p in result.removed[:5])
        more = f" and {len(result.removed) - 5:,} more" if len(result.removed) > 5 else ""
        say(f"Removed older files that are not part of this export: {names}{more}")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--again",
    is_flag=True,
    help="Import a story you have already (imported before, or the story it was exported "
    "from) as one more new session.",
)
@handle_errors
def import_cmd(file: Path, again: bool) -> None:
    """Bring back an exported story (its story.json, or its export folder) as a new session.

    A story you have already is refused, naming the session that holds it; --again imports
    it anyway.
    """
    from storyterm.core.export import import_story

    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session = import_story(runtime.sessions, user_id, file, again=again)
    parts = f"{session.part_count:,} part" + ("" if session.part_count == 1 else "s")
    say(
        f"Imported “{session.title}” ({parts}, {session.word_count:,} words, "
        f"{session.status.value}) as a new session {session.id}"
    )
    say(f"Read it with `storyterm show {session.id[:8]}`.")


COMMANDS = [export_cmd, import_cmd]
