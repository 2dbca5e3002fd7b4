"""`storyterm sessions|show|pause|resume|complete|delete`: the session commands."""

from __future__ import annotations

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.core.basics import BibleField
from storyterm.core.storage.tables import PartState
from storyterm.core.text import terminal_line
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
            terminal_line(f" · {s.model_name}") if s.model_name else "",
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
                "parts": [p.model_dump(mode="json") for p in parts],
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
        elif part.state is PartState.STREAMING:
            heading += "  (being written)"
        say(styled(heading, bold=True))
        if part.direction:
            say(f"> {part.direction}")
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
    "complete", "Completed", "Mark a session completed (read-only from then on)."
)


@click.command("delete")
@click.argument("session_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@handle_errors
def delete_cmd(session_id: str, yes: bool) -> None:
    """Delete a session and all its parts, for good."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    session = runtime.sessions.get(user_id, session_id)
    if not yes:
        click.confirm(
            terminal_line(f"Delete “{session.title}” and its {session.part_count} parts for good?"),
            abort=True,
        )
    runtime.sessions.delete(user_id, session_id)
    say(f"Deleted “{session.title}”.")


COMMANDS = [sessions_cmd, show_cmd, pause_cmd, resume_cmd, complete_cmd, delete_cmd]
