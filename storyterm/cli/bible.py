"""`storyterm bible`: see and change a story's bible (genre, tone, premise, characters, style
notes), its author's note (and the depth it goes in at) and its instructions to the model."""

from __future__ import annotations

from typing import IO, Any

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.cli.history import read_text_file
from storyterm.cli.sessions import resolve_session_id
from storyterm.cli.story import bible_options
from storyterm.core.basics import (
    DEFAULT_NOTE_DEPTH,
    MAX_INSTRUCTIONS,
    MAX_NOTE,
    MAX_NOTE_DEPTH,
    BibleField,
    field_label,
)
from storyterm.core.memory.state import INSTRUCTIONS, NOTE, NOTE_DEPTH
from storyterm.core.memory.steering import Steering, clean_steering
from storyterm.core.views import Session
from storyterm.errors import InvalidInput

#: What --reset takes: the flag's name -> the memory key it unsets.
_RESETS = {"note": NOTE, "note-depth": NOTE_DEPTH, "instructions": INSTRUCTIONS}


@click.command("bible")
@click.argument("session_id")
@bible_options
@click.option(
    "--note",
    default=None,
    help=f"The author's note: a few words put into every prompt until changed, e.g. "
    f"'tense, rain, Mara is lying' (at most {MAX_NOTE:,} characters; '' removes it).",
)
@click.option(
    "--note-depth",
    default=None,
    metavar="N",
    help=f"Where the note goes: before the last N parts (0: right before your direction; 0 "
    f"to {MAX_NOTE_DEPTH}; default {DEFAULT_NOTE_DEPTH}).",
)
@click.option(
    "--instructions",
    default=None,
    help=f"The story's instructions to the model (the system prompt), replacing the default "
    f"(at most {MAX_INSTRUCTIONS:,} characters; '' goes back to the default).",
)
@click.option(
    "--instructions-file",
    type=click.File("rb"),
    default=None,
    help="The instructions from a file (- for standard input).",
)
@click.option(
    "--reset",
    "resets",
    multiple=True,
    type=click.Choice([*_RESETS, "all"]),
    help="Back to the default: no note, depth 3, the default instructions (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the bible as JSON.")
@handle_errors
def bible_cmd(
    session_id: str,
    note: str | None,
    note_depth: str | None,
    instructions: str | None,
    instructions_file: IO[bytes] | None,
    resets: tuple[str, ...],
    as_json: bool,
    **fields: str | None,
) -> None:
    """Show a story's bible, author's note and instructions, or change them.

    With no option it prints them all; each option given changes that one and keeps the
    others ('' empties a field). Everything is checked before anything is saved.
    """
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    if instructions_file is not None:
        if instructions is not None:
            raise click.UsageError("Give --instructions or --instructions-file, not both.")
        instructions = read_text_file(instructions_file)
    steering = _steering_changes(note, note_depth, instructions, resets)
    bible = {key: value for key, value in fields.items() if value is not None}
    session = runtime.sessions.get(user_id, session_id)
    if bible or steering:
        from storyterm.core.service import clean_metadata

        metadata = _merged(session.session_metadata, bible)
        # Both checked before either is written: a bad note keeps the premise unsaved too.
        clean_metadata(metadata)
        clean_steering(steering)
        if metadata != session.session_metadata:
            session = runtime.sessions.update_metadata(user_id, session_id, metadata)
        if steering:
            session = runtime.sessions.set_steering(user_id, session_id, steering)
    shown = Steering.of(session.memory)
    if as_json:
        print_json(
            {
                "session_id": session.id,
                "title": session.title,
                "metadata": session.session_metadata,
                **shown.as_json(),
            }
        )
        return
    _print(session, shown, saved=bool(bible or steering))


def _steering_changes(
    note: str | None, depth: str | None, instructions: str | None, resets: tuple[str, ...]
) -> dict[str, Any]:
    changes: dict[str, Any] = {
        key: value
        for key, value in ((NOTE, note), (NOTE_DEPTH, depth), (INSTRUCTIONS, instructions))
        if value is not None
    }
    names = list(_RESETS) if "all" in resets else list(resets)
    for name in names:
        key = _RESETS[name]
        if key in changes:
            raise InvalidInput(
                f"--{name} and --reset {name} say different things: give one of them."
            )
        changes[key] = None
    return changes


def _merged(metadata: dict[str, Any], changes: dict[str, str]) -> dict[str, Any]:
    merged = dict(metadata)
    for key, value in changes.items():
        if isinstance(value, str) and not value.strip():
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _print(session: Session, steering: Steering, *, saved: bool) -> None:
    heading = "Saved. Story bible of " if saved else "Story bible of "
    say(heading, styled(f"“{session.title}”", one_line=True, bold=True), ":")
    meta = session.session_metadata
    known = [field.value for field in BibleField]
    keys = [key for key in known if key in meta] + [key for key in meta if key not in known]
    if not keys:
        say(styled("  (no details yet)", dim=True))
    for key in keys:
        _block(field_label(key), _as_text(meta[key]))
    place = (
        "right before your direction"
        if steering.note_depth == 0
        else f"before the last {steering.note_depth} parts"
    )
    if steering.note:
        _block(f"Author's note ({place})", steering.note)
    else:
        say(
            styled("Author's note", bold=True),
            styled(f" (none; it would go {place})", dim=True),
        )
    whose = "this story's own" if steering.own_instructions else "the default"
    _block(f"Instructions ({whose})", steering.instructions)
    if not saved:
        say(
            styled(
                f"Change them with `storyterm bible {session.id[:8]} --note '...' --note-depth 2`"
                " (--premise, --instructions ...); `--reset instructions` goes back to the "
                "default.",
                dim=True,
            )
        )


def _block(label: str, text: str) -> None:
    """A label, then its text indented under it (every line: the text is data)."""
    say(styled(label, bold=True))
    for line in text.splitlines() or [""]:
        say("    ", line)


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    return str(value)


COMMANDS = [bible_cmd]
