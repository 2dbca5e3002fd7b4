"""`storyterm sessions|show|pause|resume|complete|delete`: the session commands."""

from __future__ import annotations

import sys

import click

from storyterm.cli.common import (
    Styled,
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.core.basics import BibleField
from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.core.text import terminal_line, terminal_safe
from storyterm.core.views import STATUS_MARK, ago


@click.command("sessions")
@click.option(
    "--status",
    type=click.Choice(["all", "active", "paused", "completed"]),
    default="all",
    show_default=True,
)
@click.option("--search", default=None, help="Only sessions whose title contains this text.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--cursor", default=None, help="Continue a listing (from --json's next_cursor).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handle_errors
def sessions_cmd(
    status: str, search: str | None, limit: int, cursor: str | None, as_json: bool
) -> None:
    """List your story sessions, newest first."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    page = runtime.sessions.list(user_id, status=status, search=search, limit=limit, cursor=cursor)
    if as_json:
        print_json(page.model_dump(mode="json"))
        return
    if not page.items:
        if search or status != "all":
            say("No sessions match.")
        else:
            say('No sessions yet. Start one with `storyterm new "A title"` or `storyterm`.')
        return
    for s in page.items:
        words = f"{s.part_count}p · {s.word_count:,}w"
        say(
            f"{STATUS_MARK[s.status]} {s.id[:8]}  ",
            styled(s.title, one_line=True, bold=True),
            f"  {words} · {ago(s.updated_at)}",
            f" · {terminal_line(s.model_name)}" if s.model_name else "",
        )
    if page.next_cursor:
        say(f"… more: storyterm sessions --cursor {page.next_cursor}")


def resolve_session_id(runtime, user_id: int, session_id: str) -> str:
    """Accept a full id, or a unique prefix of at least 4 characters as `sessions` prints."""
    from storyterm.errors import InvalidInput, NotFound

    # Ids are lowercase UUIDs; people retype them from notes or screens in any case.
    session_id = session_id.strip().lower()
    if len(session_id) == 36:
        return session_id
    if len(session_id) < 4:
        raise InvalidInput("Give at least the first 4 characters of the session id.")
    matches = runtime.store.find_session_ids(user_id, session_id)
    if not matches:
        raise NotFound(
            f"No story session {session_id!r} here. Check the id with `storyterm sessions`."
        )
    if len(matches) > 1:
        raise InvalidInput(f"{session_id!r} matches {len(matches)} sessions; give more of the id.")
    return matches[0]


@click.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="The session and all its parts as JSON.")
@handle_errors
def show_cmd(session_id: str, as_json: bool) -> None:
    """Print a story (or, with --json, the session with every part and its state)."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    opened = runtime.sessions.open(user_id, session_id, tail=1)
    session = opened.session
    parts = runtime.sessions.all_parts(user_id, session_id)
    if as_json:
        print_json(
            {
                "session": session.model_dump(mode="json"),
                # `version`/`versions` are the chosen take and how many the part has (the
                # names scripts were promised; `take`/`takes` say the same).
                "parts": [
                    {**p.model_dump(mode="json"), "version": p.take, "versions": p.takes}
                    for p in parts
                ],
            }
        )
        return
    say(styled(session.title, one_line=True, bold=True))
    meta = session.session_metadata
    known = (BibleField.GENRE, BibleField.TONE)
    facts = [terminal_line(f"{k.value}: {meta[k]}") for k in known if meta.get(k)]
    facts.append(
        f"{session.status.value} · {session.part_count} parts · {session.word_count:,} words"
    )
    say(" · ".join(facts))
    for part in parts:
        say()
        heading = f"## Part {part.seq}"
        if part.state is PartState.INTERRUPTED:
            heading += "  (interrupted)"
        elif part.state is PartState.CUT:
            heading += "  (cut at the reply length)"
        elif part.state is PartState.STREAMING:
            heading += "  (being written)"
        say(styled(heading, bold=True))
        if part.direction:  # a direction of several lines: each line quoted
            for line in terminal_safe(part.direction).split("\n"):
                say(f"> {line}".rstrip())
        say(part.content)


def _status_command(name: str, verb: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("session_id")
    @handle_errors
    def command(session_id: str) -> None:
        runtime = get_runtime()
        user_id = current_user_id(runtime)
        session_id = resolve_session_id(runtime, user_id, session_id)
        session = getattr(runtime.sessions, name)(user_id, session_id)
        say(f"{verb} “{session.title}”.")

    return command


pause_cmd = _status_command("pause", "Paused", "Pause a session; resume it later.")
resume_cmd = _status_command("resume", "Resumed", "Resume a paused session.")
complete_cmd = _status_command(
    "complete", "Completed", "Mark a session completed (read-only until `storyterm reopen`)."
)


@click.command("delete")
@click.argument("session_id")
@click.option(
    "--part",
    "seq",
    type=click.IntRange(1, 2**31 - 1),
    default=None,
    help="Delete only this part (with all its takes); the parts after it move up one place.",
)
@click.option("--forever", is_flag=True, help="Delete for good instead of to the trash (asks).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@handle_errors
def delete_cmd(session_id: str, seq: int | None, forever: bool, yes: bool) -> None:
    """Move a story (or one part, with --part) to the trash; --forever deletes it for good.

    `storyterm restore` brings back what is in the trash (see `storyterm trash`), and so does
    `storyterm undo`. The trash keeps things for the trash_days setting (30 days).
    """
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    if seq is not None:
        _delete_part(runtime, user_id, session_id, seq, forever=forever, yes=yes)
        return
    if not forever:
        session = runtime.history.delete(user_id, session_id)
        say(
            "Moved ",
            styled(f"“{session.title}”", one_line=True, bold=True),
            f" to the trash; `storyterm restore {session_id[:8]}` brings it back.",
        )
        return
    session = runtime.history.story(user_id, session_id)
    if not yes:
        parts = f"{session.part_count:,} part" + ("" if session.part_count == 1 else "s")
        _confirm(
            "Delete ",
            styled(f"“{session.title}”", one_line=True, bold=True),
            f" and its {parts} for good? This cannot be undone",
        )
    runtime.history.delete_forever(user_id, session_id)
    say("Deleted ", styled(f"“{session.title}”", one_line=True, bold=True), " for good.")


def _delete_part(
    runtime: Runtime, user_id: int, session_id: str, seq: int, *, forever: bool, yes: bool
) -> None:
    session = runtime.sessions.get(user_id, session_id)
    title = styled(f"“{session.title}”", one_line=True, bold=True)
    if forever and not yes:
        part = runtime.sessions.get_part(user_id, session_id, seq)
        takes = f", all {part.takes} takes" if part.takes > 1 else ""
        _confirm(
            f"Delete part {seq} of ",
            title,
            f" ({part.word_count:,} words{takes}) for good? This cannot be undone",
        )
    trash_number = runtime.history.delete_part(user_id, session_id, seq)
    if forever:
        runtime.history.delete_part_forever(user_id, trash_number)
        say(f"Deleted part {seq} of ", title, " for good.")
        return
    say(
        f"Moved part {seq} of ",
        title,
        f" to the trash; `storyterm restore --part {trash_number}` brings it back.",
    )


def _confirm(*pieces: str) -> None:
    """Ask before what cannot be undone (stored text in the question is made terminal-safe);
    anything but yes says that nothing was deleted and exits 1."""
    question = "".join(p if isinstance(p, Styled) else terminal_safe(p) for p in pieces)
    try:
        yes = click.confirm(question, default=False)
    except click.Abort:
        # Standard input at its end (a script, `< /dev/null`) or Ctrl-C at the question:
        # click's own "Aborted!" did not say what became of the story, nor what to do.
        click.echo()  # end the question's line
        say("storyterm: Nothing was deleted: no answer was given (use --yes in scripts).", err=True)
        sys.exit(1)
    if not yes:
        say("Nothing was deleted.", err=True)
        sys.exit(1)


COMMANDS = [sessions_cmd, show_cmd, pause_cmd, resume_cmd, complete_cmd, delete_cmd]
