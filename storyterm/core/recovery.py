"""Recovery files: text a generation could not save (a full disk, a database that went away)
kept in a file instead, and put back into its story later (`storyterm recover`).

A recovery file lives in the user state folder's recovered/ (settings.state_dir), or, when that
cannot be written either, in the system's temporary folder as storyterm-recovered-*.txt. It is
plain text a writer can open: one line saying what it is, one line of JSON saying where the
text belongs, an empty line, then the text exactly as the model wrote it. It is made readable
by its owner alone (stories are private).

Standard library only (and the core's own modules): the generation writes one while it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from storyterm.core.basics import PartState
from storyterm.core.storage.file_modes import FILE_MODE, make_private_folder
from storyterm.errors import InvalidInput, NotFound, StorytermError

if TYPE_CHECKING:
    from storyterm.core.history import HistoryService
    from storyterm.core.service import SessionService
    from storyterm.core.views import Part

HEADER = "storyterm recovered text: put it back with `storyterm recover {path}`"
FORMAT = 1
#: The name a recovery file in the temporary folder starts with.
TEMP_PREFIX = "storyterm-recovered-"
SUFFIX = ".txt"


@dataclass(frozen=True)
class Unsaved:
    """Where a text that could not be saved belongs, and why it was not."""

    user_id: int
    session_id: str
    title: str
    seq: int
    #: The part row and take the text was being written into (None: no part was claimed).
    part_id: int | None
    take: int | None
    part_created_at: str | None
    direction: str
    model_name: str | None
    #: "done" (the model had finished) or "interrupted".
    state: str
    #: What went wrong, in a few words.
    cause: str
    written_at: str


@dataclass(frozen=True)
class Recovered:
    """A recovery file as read back: where it is, where its text belongs, and the text."""

    path: Path
    unsaved: Unsaved
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def recovery_folder(state_dir: Path) -> Path:
    return state_dir / "recovered"


def save_failure_cause(error: StorytermError) -> str:
    """Why a save failed, in a few words where the database's own error says ("the disk
    holding the database is full"), else the error's message."""
    from storyterm.core.storage.database import error_cause

    original = error.__cause__
    cause = error_cause(original) if original is not None else None
    return cause or error.message.rstrip(".")


def write_recovery(state_dir: Path, unsaved: Unsaved, text: str) -> Path:
    """Write `text` to a new recovery file and return its path: in the state folder, or in the
    temporary folder when that fails. OSError when neither can be written."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{unsaved.session_id[:8]}-part{unsaved.seq}"
    try:
        folder = recovery_folder(state_dir)
        make_private_folder(folder)
        return _fill(*_new_file(folder, name), unsaved, text)
    except OSError:
        # Also when the file was made but its text could not be written: a full disk gives a
        # new file (an inode) and then refuses its first block, so the state folder fails at
        # the write, not at the open.
        pass
    fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}-", suffix=SUFFIX)
    return _fill(Path(temp), os.fdopen(fd, "w", encoding="utf-8", newline=""), unsaved, text)


def _fill(path: Path, handle: TextIO, unsaved: Unsaved, text: str) -> Path:
    """Write the recovery file's contents and make them durable; on failure the file is
    removed (a part of the text would read back as a whole recovery file) and OSError raised."""
    try:
        with handle:
            handle.write(_contents(path, unsaved, text))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path


def _new_file(folder: Path, name: str) -> tuple[Path, TextIO]:
    """A new file in `folder` named after `name` (numbered when taken), open for writing."""
    for number in range(1, 1000):
        path = folder / (f"{name}{SUFFIX}" if number == 1 else f"{name}-{number}{SUFFIX}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "w", encoding="utf-8", newline="")
    raise FileExistsError(f"too many recovery files named {name} in {folder}")


def _contents(path: Path, unsaved: Unsaved, text: str) -> str:
    about = {"format": FORMAT, **asdict(unsaved)}
    header = HEADER.format(path=path)
    return f"{header}\n{json.dumps(about, ensure_ascii=False)}\n\n{text}"


def read_recovery(path: Path) -> Recovered:
    """A recovery file read back; InvalidInput when it is not one."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            header, about, blank = handle.readline(), handle.readline(), handle.readline()
            text = handle.read()
    except FileNotFoundError:
        raise InvalidInput(f"There is no recovery file {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read {path} ({exc}).") from None
    try:
        fields = json.loads(about)
        if not header.startswith("storyterm recovered text") or blank != "\n":
            raise ValueError("not a recovery file")
        if fields.pop("format", None) != FORMAT:
            raise ValueError("an unknown format")
        unsaved = Unsaved(**fields)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{path} is not a storyterm recovery file (or it was changed by hand)."
        ) from None
    return Recovered(path, unsaved, text)


def list_recoveries(state_dir: Path) -> list[Recovered]:
    """The recovery files of this system user, oldest first (files that cannot be read as
    one are left out)."""
    folder = recovery_folder(state_dir)
    paths = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    temp = Path(tempfile.gettempdir())
    for path in sorted(temp.glob(f"{TEMP_PREFIX}*{SUFFIX}")):
        with contextlib.suppress(OSError):
            if not hasattr(os, "getuid") or path.stat().st_uid == os.getuid():
                paths.append(path)
    found = []
    for path in paths:
        with contextlib.suppress(InvalidInput):
            found.append(read_recovery(path))
    return sorted(found, key=lambda r: r.unsaved.written_at)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def part_state(unsaved: Unsaved) -> PartState:
    return PartState.DONE if unsaved.state == PartState.DONE.value else PartState.INTERRUPTED


def put_back(
    sessions: SessionService, history: HistoryService, user_id: int, recovered: Recovered
) -> tuple[Part, str]:
    """Put a recovery file's text back into its story, never over other text:

    - into the take it was being written into, when that take is still as the failed save left
      it (still marked streaming, or holding the start of this text): the save is done now;
    - else as a new take of its part (chosen; the take the part had is kept);
    - else, when the part is gone (deleted, or its number now holds another part), as a new
      part at the end of the story.

    Returns the part and what was done, in words. The file itself is left to the caller."""
    unsaved, text = recovered.unsaved, recovered.text
    if unsaved.user_id != user_id:
        raise InvalidInput(
            f"{recovered.path} holds text of another writer's story. Log in as that writer to "
            "put it back."
        )
    if not text.strip():
        raise InvalidInput(f"{recovered.path} holds no text.")
    sid, seq, state = unsaved.session_id, unsaved.seq, part_state(unsaved)
    try:
        session = sessions.get(user_id, sid)
    except NotFound:
        raise NotFound(
            f"The story “{unsaved.title}” is not there any more. If it is in the trash, restore "
            f"it, then run this again; {recovered.path} stays until its text is back."
        ) from None
    current = _part_or_none(sessions, user_id, sid, seq)
    if current is not None and current.id == unsaved.part_id:
        ours = (
            current.take == unsaved.take
            and current.created_at.isoformat() == unsaved.part_created_at
        )
        if ours and (current.state is PartState.STREAMING or text.startswith(current.content)):
            part, _ = sessions.checkpoint_part(user_id, sid, seq, text, state=state, expect=current)
            return part, f"saved into part {seq} of “{session.title}”, where it was being written"
        if ours or _has_take(history, user_id, sid, seq, unsaved.part_created_at):
            part = history.restore_take(
                user_id,
                sid,
                seq,
                content=text,
                direction=unsaved.direction,
                state=state,
                model_name=unsaved.model_name,
            )
            return part, (
                f"added to part {seq} of “{session.title}” as take {part.take} (the take it had "
                "is kept)"
            )
    part = sessions.append_part(
        user_id, sid, direction=unsaved.direction, content=text, model_name=unsaved.model_name
    )
    return part, (
        f"added to “{session.title}” as part {part.seq}, at the end (its part {seq} is not "
        "there any more)"
    )


def _part_or_none(sessions: SessionService, user_id: int, sid: str, seq: int) -> Part | None:
    try:
        return sessions.get_part(user_id, sid, seq)
    except NotFound:
        return None


def _has_take(
    history: HistoryService, user_id: int, sid: str, seq: int, created_at: str | None
) -> bool:
    """Whether part `seq` still has the take made at `created_at` (the one the text was being
    written into): then it is the same part, whatever takes were made or chosen since. (A
    take's creation time, not the row's id alone: SQLite may give a deleted newest row's id to
    the next part.)"""
    return any(t.created_at.isoformat() == created_at for t in history.takes(user_id, sid, seq))
