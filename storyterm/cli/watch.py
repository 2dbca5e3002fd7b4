"""`storyterm watch [ID]`: the writer's changes as they happen, from this machine or any other
client of the database, until Ctrl-C. With an ID, one story, its parts' text streaming as the
model writes them (wherever it runs); with --json, one JSON object per line for scripts.

Everything printed is terminal-safe (`say`): titles and streamed text are data. The text is
checked against the database whenever a piece is missing (a lost event, a watch started in the
middle of a part, the database watch without Redis), so the screen ends up holding each part
whole.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    json_line,
    say,
    styled,
)
from storyterm.core.basics import PartState
from storyterm.core.events import Event, EventKind, Status
from storyterm.errors import NotFound

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime

_WHAT = {
    EventKind.SESSION_CREATED: "started",
    EventKind.SESSION_RENAMED: "renamed",
    EventKind.SESSION_DELETED: "moved to the trash",
    EventKind.SESSION_RESTORED: "back from the trash",
    EventKind.SESSION_REMOVED: "deleted for good",
    EventKind.MEMORY_CHANGED: "memory changed",
    EventKind.BIBLE_CHANGED: "story bible changed",
    EventKind.LORE_CHANGED: "lorebook changed",
    EventKind.SESSION_CHANGED: "changed",
    EventKind.PART_BEGUN: "part {seq} is being written",
    EventKind.PART_FINISHED: "part {seq} finished",
    EventKind.PART_INTERRUPTED: "part {seq} interrupted",
    EventKind.PART_CHANGED: "part {seq} changed",
    EventKind.VERSION_CHOSEN: "part {seq}: another take chosen",
}
#: Not printed (--json has them): checkpoints of the text already on screen, and the story
#: memory's bookkeeping, which every generation changes twice.
_QUIET = (EventKind.PART_SAVED, EventKind.MEMORY_CHANGED)
#: Too many to print one by one: the watch of a story prints no more than this many parts it
#: missed at once (`storyterm show` has them all).
MAX_CATCH_UP = 3


class _Stopped(Exception):
    """SIGTERM or SIGHUP: end the watch as Ctrl-C does."""


def describe(event: Event) -> str:
    """What happened, in a few words (without the title)."""
    if event.kind is EventKind.STATUS_CHANGED:
        return f"now {event.status}"
    return _WHAT.get(event.kind, str(event.kind)).format(seq=event.seq)


class StoryText:
    """One story's parts on stdout as they are written: the text heard live, and whatever was
    missed read back from the database (the version, not the event, decides)."""

    def __init__(self, runtime: Runtime, user_id: int, session_id: str) -> None:
        self.sessions = runtime.sessions
        self.user_id, self.session_id = user_id, session_id
        self.seq = 0  # the part on screen
        self.heard = 0  # how much of its text is on screen
        self.open_line = False

    def start(self) -> None:
        session = self.sessions.get(self.user_id, self.session_id)
        say(styled(session.title, one_line=True, bold=True), styled(" — watching", dim=True))
        if session.part_count:
            part = self.sessions.get_part(self.user_id, self.session_id, session.part_count)
            if part.state is PartState.STREAMING:
                self._begin(part.seq)
                self._write(part.content)
            else:
                self.seq = part.seq
                self.heard = len(part.content)

    def note(self, text: str, *, err: bool = False) -> None:
        self.end_line()
        say(styled(text, dim=True), err=err)

    def text(self, event: Event) -> None:
        assert event.seq is not None and event.offset is not None and event.text is not None
        if event.seq != self.seq or event.offset > self.heard:
            self.catch_up(upto=event.seq)
        if event.seq != self.seq:
            return
        skip = self.heard - event.offset
        if 0 <= skip < len(event.text):
            self._write(event.text[skip:])

    def catch_up(self, upto: int | None = None) -> None:
        """Print what the database holds beyond what is on screen (parts up to `upto`)."""
        try:
            session = self.sessions.get(self.user_id, self.session_id)
        except NotFound:
            return
        last = session.part_count if upto is None else min(upto, session.part_count)
        first = self.seq if self.seq else last
        if last - first > MAX_CATCH_UP:
            self.note(f"… parts {first + 1} to {last - MAX_CATCH_UP} (see `storyterm show`)")
            first = last - MAX_CATCH_UP
        for seq in range(max(first, 1), last + 1):
            part = self.sessions.get_part(self.user_id, self.session_id, seq)
            if seq != self.seq:
                self._begin(seq)
            self._write(part.content[self.heard :])

    def _begin(self, seq: int) -> None:
        self.end_line()
        say(styled(f"── part {seq} ──", dim=True))
        self.seq, self.heard = seq, 0

    def _write(self, text: str) -> None:
        if text:
            say(text, nl=False)
            self.heard += len(text)
            self.open_line = not text.endswith("\n")
            sys.stdout.flush()

    def end_line(self) -> None:
        if self.open_line:
            say("")
            self.open_line = False


def _print_json(item: Event | Status) -> None:
    if isinstance(item, Status):
        json_line({"kind": "watch.status", **item.as_dict()})
    else:
        json_line(item.as_dict())
    sys.stdout.flush()


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


@click.command("watch")
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@handle_errors
def watch_cmd(session_id: str | None, as_json: bool) -> None:
    """Print changes to your stories as they happen, until Ctrl-C.

    With SESSION_ID (or its first characters), one story, its parts' text printed as the
    model writes them, wherever it runs. Without Redis the database is looked at every few
    seconds instead, and the watch says so. --json prints every event, one object a line
    (checkpoints and story-memory changes included).
    """
    from storyterm.cli.sessions import resolve_session_id

    runtime = get_runtime()
    user_id = current_user_id(runtime)
    if session_id is not None:
        session_id = resolve_session_id(runtime, user_id, session_id)
    subscriber = runtime.store.events.subscribe(user_id, session_id)
    story = StoryText(runtime, user_id, session_id) if session_id and not as_json else None
    previous = {sig: signal.getsignal(sig) for sig in _stop_signals()}
    for sig in previous:
        signal.signal(sig, _stop)
    try:
        if story is not None:
            story.start()
        for item in subscriber:
            if as_json:
                _print_json(item)
            elif story is not None:
                _show_story(story, item)
            else:
                _show_list(item)
    except (KeyboardInterrupt, _Stopped):
        if story is not None:
            story.end_line()
    except BrokenPipeError:
        # The reader of a pipe went away (`storyterm watch | head`): nothing more to say.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        subscriber.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show_list(item: Event | Status) -> None:
    if isinstance(item, Status):
        say(styled(f"{_stamp()} {item.reason}", dim=True), err=True)
        return
    if item.kind in _QUIET or item.kind is EventKind.TEXT_ADDED:
        return  # a story's text is watched with its id
    title = styled(f"“{item.title or item.session_id}”", one_line=True, bold=True)
    say(f"{_stamp()} ", title, f" {describe(item)}")


def _show_story(story: StoryText, item: Event | Status) -> None:
    if isinstance(item, Status):
        story.note(item.reason, err=True)
        if item.resync:
            story.catch_up()
        return
    if item.kind is EventKind.TEXT_ADDED:
        story.text(item)
    elif item.kind in _QUIET:
        return
    elif item.kind is EventKind.SESSION_REMOVED:
        story.note("The story was deleted for good.")
    elif item.kind in (EventKind.PART_FINISHED, EventKind.PART_INTERRUPTED):
        story.catch_up(upto=item.seq)  # the whole part, whatever was missed
        story.note(describe(item))
    elif item.synthetic or item.kind is EventKind.PART_BEGUN:
        story.catch_up()  # a new part's heading, or what the database watch found
    elif item.kind is EventKind.PART_CHANGED:
        story.catch_up()
        story.note(describe(item))
    else:
        story.note(describe(item))


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


def _stop_signals() -> list[signal.Signals]:
    return [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]


COMMANDS = [watch_cmd]
