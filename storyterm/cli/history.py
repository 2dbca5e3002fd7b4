"""`storyterm versions|choose|edit|undo|redo|trash|restore|reopen`: nothing a writer or the
model wrote is lost. Every part keeps its takes (a regenerate or an edit adds one, and any of
them can be chosen again), a deleted story or part waits in the trash, and the last changes
to a story can be undone and redone, from here or from any other window."""

from __future__ import annotations

from typing import IO

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.cli.sessions import resolve_session_id
from storyterm.core.basics import PartState, SessionStatus
from storyterm.core.runtime import Runtime
from storyterm.core.storage.trash import NOT_IN_TRASH
from storyterm.core.text import MAX_PART, terminal_line
from storyterm.core.views import Part, Take, TrashItem, ago, is_stale
from storyterm.errors import InvalidInput, InvalidTransition, NotFound

#: Parts, takes and trash entries are numbered in 32-bit columns.
NUMBER = click.IntRange(1, 2**31 - 1)
PREVIEW_WORDS = 14


def preview(text: str, words: int = PREVIEW_WORDS) -> str:
    """The first few words of `text`, on one line and terminal-safe."""
    cut = text.split()
    shown = terminal_line(" ".join(cut[:words]))
    return shown + (" …" if len(cut) > words else "") if cut else "(empty)"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _title(title: str) -> str:
    return styled(f"“{title}”", one_line=True, bold=True)


# -- takes -----------------------------------------------------------------------------------


@click.command("versions")
@click.argument("session_id")
@click.argument("seq", type=NUMBER)
@click.option("--json", "as_json", is_flag=True, help="Every take in full, as JSON.")
@handle_errors
def versions_cmd(session_id: str, seq: int, as_json: bool) -> None:
    """List the takes of part SEQ: which is chosen (●), what made each, and how it begins.

    Choose another with `storyterm choose ID SEQ N`.
    """
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    takes = runtime.history.takes(user_id, session_id, seq)
    session = runtime.sessions.get(user_id, session_id)
    chosen = next((t.number for t in takes if t.chosen), None)
    if as_json:
        print_json(
            {
                "session_id": session_id,
                "title": session.title,
                "seq": seq,
                "chosen": chosen,
                "takes": [t.model_dump(mode="json") for t in takes],
            }
        )
        return
    say(_title(session.title), f" · part {seq} · {_plural(len(takes), 'take')}")
    for take in takes:
        _print_take(take)
    if len(takes) > 1:
        say(
            styled(f"Choose one with: storyterm choose {session_id[:8]} {seq} N", dim=True),
            err=True,
        )


def _print_take(take: Take) -> None:
    mark = "●" if take.chosen else " "
    facts = [take.kind.value, _plural(take.word_count, "word"), ago(take.updated_at)]
    if take.take_from is not None:
        facts.append(f"from take {take.take_from}")
    if take.state is PartState.INTERRUPTED:
        facts.append("interrupted")
    elif take.state is PartState.CUT:
        facts.append("cut at the reply length")
    elif take.state is PartState.STREAMING:
        facts.append("being written")
    say(f"{mark} {take.number:>3}  ", " · ".join(facts))
    say("       ", styled(preview(take.content), dim=True))


@click.command("choose")
@click.argument("session_id")
@click.argument("seq", type=NUMBER)
@click.argument("number", type=NUMBER)
@handle_errors
def choose_cmd(session_id: str, seq: int, number: int) -> None:
    """Make take NUMBER the one part SEQ tells (shown, exported, and what the model reads)."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    part = runtime.history.choose(user_id, session_id, seq, number)
    say(
        f"Part {part.seq} now take {part.take} of {part.takes} "
        f"({part.take_kind.value}, {_plural(part.word_count, 'word')})."
    )
    say("  ", styled(preview(part.content), dim=True))


@click.command("edit")
@click.argument("session_id")
@click.argument("seq", type=NUMBER)
@click.option(
    "--text-file",
    type=click.File("rb"),
    default=None,
    help="Take the new text from this file (- for standard input) instead of opening $EDITOR.",
)
@click.option(
    "--direction",
    default=None,
    help="A new direction for the part too (alone, without --text-file, it changes only that).",
)
@handle_errors
def edit_cmd(session_id: str, seq: int, text_file: IO[bytes] | None, direction: str | None) -> None:
    """Edit part SEQ in $EDITOR; the result is a new take (the old one stays: see `versions`)."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    part = runtime.sessions.get_part(user_id, session_id, seq)
    _refuse_before_editing(runtime, user_id, session_id, part)
    if text_file is not None:
        text: str | None = read_text_file(text_file)
    elif direction is not None:
        text = None  # only the direction changes
    else:
        text = click.edit(part.content, extension=".md", require_save=True)
        if text is None:
            say(f"Nothing changed: the editor closed without saving. Part {seq} stays as it was.")
            return
    if text is not None:
        text = _as_typed(text, part.content)
        if not text.strip():
            raise InvalidInput(
                f"The new text of part {seq} is empty, so nothing was saved. To remove the part, "
                f"run `storyterm delete {session_id[:8]} --part {seq}`."
            )
    edited = runtime.history.edit(user_id, session_id, seq, content=text, direction=direction)
    if edited.take == part.take and edited.takes == part.takes:
        say(f"Nothing changed: part {seq} stays take {part.take}.")
        return
    say(
        f"Part {seq} now take {edited.take} ({edited.take_kind.value}) · "
        f"{_plural(edited.word_count, 'word')}. Take {part.take} is kept: "
        f"`storyterm undo {session_id[:8]}` brings it back."
    )


def _refuse_before_editing(runtime: Runtime, user_id: int, session_id: str, part: Part) -> None:
    """Say why an edit cannot be saved before the writer spends time in the editor (the core
    checks again when it saves)."""
    session = runtime.sessions.get(user_id, session_id)
    if session.status is SessionStatus.COMPLETED:
        raise InvalidTransition(
            f"“{session.title}” is completed, so its parts are read-only. Reopen it to change "
            f"them: `storyterm reopen {session_id[:8]}`."
        )
    if part.state is PartState.STREAMING and not is_stale(part):
        raise InvalidTransition(
            f"Part {part.seq} is still being written. Stop the generation first, then edit."
        )


def read_text_file(source: IO[bytes]) -> str:
    name = getattr(source, "name", "-")
    where = "standard input" if name in ("-", "<stdin>") else str(name)
    raw = source.read(MAX_PART * 4 + 1)  # a part's most characters, at UTF-8's widest
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{where} is not UTF-8 text (byte {exc.start:,} is not valid). Save it as UTF-8 and "
            "try again."
        ) from None


def _as_typed(text: str, before: str) -> str:
    """The text as the writer means it: editors (and `echo`) end a file with a line break the
    part never had, which is not a change."""
    text = text.replace("\r\n", "\n")
    return text if before.endswith("\n") else text.rstrip("\n")


# -- undo, reopen ----------------------------------------------------------------------------


def _history_command(name: str, verb: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("session_id")
    @handle_errors
    def command(session_id: str) -> None:
        runtime = get_runtime()
        user_id = current_user_id(runtime)
        session_id = resolve_session_id(runtime, user_id, session_id)
        said = getattr(runtime.history, name)(user_id, session_id)
        session = runtime.history.story(user_id, session_id)
        say(f"{verb} in ", _title(session.title), f": {said}")

    return command


undo_cmd = _history_command(
    "undo",
    "Undone",
    "Undo your last change to a story: a take chosen or edited, a part or the story deleted, "
    "the story completed or reopened. Run it again to go further back.",
)
redo_cmd = _history_command("redo", "Redone", "Redo what `storyterm undo` last undid.")


@click.command("reopen")
@click.argument("session_id")
@handle_errors
def reopen_cmd(session_id: str) -> None:
    """Reopen a completed story, so that its parts can be written and changed again."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    session = runtime.history.reopen(user_id, session_id)
    say("Reopened ", _title(session.title), ": it is active again and its parts can change.")


# -- the trash -------------------------------------------------------------------------------


@click.command("trash")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handle_errors
def trash_cmd(as_json: bool) -> None:
    """List what is in your trash, most recently deleted first.

    Bring a story back with `storyterm restore ID`, a part with `storyterm restore --part N`.
    """
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    items = runtime.history.trash(user_id)
    days = runtime.settings.trash_days
    if as_json:
        print_json(
            {
                "trash_days": days,
                "items": [
                    {**item.model_dump(mode="json"), "trash_number": item.part_id} for item in items
                ],
            }
        )
        return
    if not items:
        say("The trash is empty.")
        return
    for item in items:
        _print_trash_item(item)
    say(
        styled(
            f"Deleted stories and parts stay {_plural(days, 'day')} in the trash, then go for "
            "good (STORYTERM_TRASH_DAYS).",
            dim=True,
        ),
        err=True,
    )


def _print_trash_item(item: TrashItem) -> None:
    when = f"deleted {ago(item.deleted_at)}"
    words = _plural(item.word_count, "word")
    if item.kind == "story":
        say(
            f"story  {item.session_id[:8]}  ",
            _title(item.title),
            f" · {words} · {when}",
            styled(f"   storyterm restore {item.session_id[:8]}", dim=True),
        )
    else:
        say(
            f"part   #{item.part_id}  part {item.seq} of ",
            _title(item.title),
            f" · {words} · {when}",
            styled(f"   storyterm restore --part {item.part_id}", dim=True),
        )
    if item.preview:
        say("       ", styled(item.preview, one_line=True, dim=True))


@click.command("restore")
@click.argument("session_id", required=False)
@click.option(
    "--part",
    "trash_number",
    type=NUMBER,
    default=None,
    help="Bring back a deleted part: its number in `storyterm trash` (#N).",
)
@handle_errors
def restore_cmd(session_id: str | None, trash_number: int | None) -> None:
    """Bring a story (ID) or a part (--part N) back from the trash, as it was."""
    if (session_id is None) == (trash_number is None):
        raise click.UsageError(
            "Name a story to restore (storyterm restore ID) or a part's trash number "
            "(storyterm restore --part N); `storyterm trash` lists both."
        )
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    if trash_number is not None:
        try:
            part = runtime.history.restore_part(user_id, trash_number)
        except NotFound as exc:
            if exc.message == NOT_IN_TRASH.format(trash_id=trash_number):
                exc.message += " `storyterm trash` lists what is there."
                exc.args = (exc.message,)
            raise
        session = runtime.sessions.get(user_id, part.session_id)
        say(
            f"Part {part.seq} of ",
            _title(session.title),
            f" is back from the trash, with {_plural(part.takes, 'take')}.",
        )
        return
    assert session_id is not None
    session_id = resolve_session_id(runtime, user_id, session_id)
    session = runtime.history.restore(user_id, session_id)
    say(
        "Restored ",
        _title(session.title),
        f" ({_plural(session.part_count, 'part')}) from the trash.",
    )


COMMANDS = [
    versions_cmd,
    choose_cmd,
    edit_cmd,
    undo_cmd,
    redo_cmd,
    reopen_cmd,
    trash_cmd,
    restore_cmd,
]
