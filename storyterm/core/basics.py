"""Names the whole core shares that cost nothing to import: the statuses (and what a writer is
told when one forbids a move), the schema revision, the keys of app_meta, the story bible's
fields and the limits on what a writer types. Every front end imports them from here, so each
is spelled once.

The TUI's first frame reads the database without SQLAlchemy (core/first_look.py), so what it
needs from the schema's vocabulary lives here, not in core/storage/tables.py (SQLModel tables) or
core/storage/database.py (the engine).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

#: The newest migration. A test checks it against the migration scripts, so that opening a
#: database that is already at head never has to load Alembic (start-up stays fast).
HEAD_REVISION = "0007_lore_entries"

#: app_meta keys: the database's own id (namespaces Redis keys and tokens), the generated
#: JWT signing secret, and the generated key that seals the values storyterm writes to Redis
#: (core/storage/cache.py).
META_DATABASE_ID = "database_id"
META_JWT_SECRET = "jwt_secret"
META_CACHE_KEY = "cache_mac_key"

#: A part left "streaming" without a checkpoint for this long belongs to a generation that died
#: (a crash, a closed laptop): opening the story marks it interrupted, its text kept.
STREAM_STALE_AFTER = timedelta(seconds=15)


#: Limits on what a writer types: the core refuses more (core/service.py), the TUI's inputs
#: stop there, and the API's schemas say so.
MAX_TITLE = 200
MAX_DIRECTION = 4_000
MAX_PART = 1_000_000
MAX_METADATA_KEY = 100
MAX_METADATA_VALUE = 20_000
MAX_MODEL_NAME = 200
USERNAME_MAX = 64
PASSWORD_MIN = 8
#: argon2 takes any length, but nobody types more than this; a bound keeps a request cheap.
PASSWORD_MAX = 1024
#: The author's note (a few words steering every prompt: "tense, rain, Mara is lying") and
#: the story's instructions (the system prompt); core/memory/steering.py checks them.
MAX_NOTE = 4_000
MAX_INSTRUCTIONS = MAX_METADATA_VALUE
#: Where the note goes: before the last N parts sent (0: right before the direction).
DEFAULT_NOTE_DEPTH = 3
MAX_NOTE_DEPTH = 50


def field_label(key: str) -> str:
    """How a story-bible key is shown, to the writer and to the model: "style_notes" ->
    "Style notes"."""
    return key.replace("_", " ").capitalize()


class BibleField(StrEnum):
    """The story bible's known fields (keys of a session's metadata), in the order a form
    shows them. A bible may hold other keys too (an import, the API)."""

    GENRE = "genre"
    TONE = "tone"
    PREMISE = "premise"
    CHARACTERS = "characters"
    STYLE_NOTES = "style_notes"

    @property
    def label(self) -> str:
        return field_label(self.value)


class SessionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class PartState(StrEnum):
    STREAMING = "streaming"
    DONE = "done"
    INTERRUPTED = "interrupted"
    #: The model stopped because it filled its reply length (Ollama's done_reason "length"),
    #: usually mid-sentence: a finished part that can be gone on from like an interrupted one.
    CUT = "cut"


class TakeKind(StrEnum):
    """What made a take of a part: the model (the first take or a regenerate), the writer's
    edit, or the model continuing an interrupted take."""

    GENERATED = "generated"
    EDITED = "edited"
    CONTINUED = "continued"


def status_message(title: str, status: str, target: SessionStatus | None = None) -> str:
    """Why a story in `status` cannot take this move (towards `target`, when it is a status
    move), and what to do instead."""
    if target is not None and status == target.value != SessionStatus.COMPLETED.value:
        return f"“{title}” is already {status}."
    if status == SessionStatus.PAUSED.value:
        return f"“{title}” is paused. Resume it first, then continue."
    if status == SessionStatus.COMPLETED.value:
        return f"“{title}” is completed and read-only. Reopen it to write more, or export it."
    return f"“{title}” is {status}: that move is not possible."


def finish_refusal(seq: int, state: str) -> str | None:
    """Why part `seq`, in `state`, cannot be finished (continued from where its text stops),
    or None when it can: only an interrupted part, or one cut at its reply length, has an end
    to go on from."""
    if state in (PartState.INTERRUPTED.value, PartState.CUT.value):
        return None
    if state == PartState.STREAMING.value:
        return (
            f"Part {seq} is being written right now. Wait for it to finish, or stop it there first."
        )
    return f"Part {seq} ended normally; regenerate it for a new take, or write the next part."


def utcnow() -> datetime:
    return datetime.now(UTC)


def like_pattern(text: str) -> str:
    """`%text%` for SQL LIKE ... ESCAPE '\\', the text's own %, _ and \\ taken literally (title
    search: the Store and the first look search the same way)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def sqlite_title_search(search: str) -> tuple[bool, str]:
    """How SQLite finds titles containing `search` whatever their case: (whether to lower the
    title first, the LIKE pattern). SQLite's own LIKE already ignores ASCII case, in C; lowering
    the title calls Python's Unicode lower() per row (several times slower over 10,000 sessions),
    so only a search beyond ASCII does it, where only Python knows the case pairs (É/é)."""
    if search.isascii():
        return False, like_pattern(search)
    return True, like_pattern(search).lower()


def unicode_lower(value: Any) -> Any:
    """SQLite's lower() for every storyterm connection: SQLite's own folds ASCII only, so a
    title search for "émile" missed "Émile's Garden"; Python's is Unicode."""
    return value.lower() if isinstance(value, str) else value


def being_written_message(seq: int, title: str) -> str:
    """Why a generation is refused while part `seq` is being written. One wording wherever the
    clash is found (the early look at the story, or the claim of the part), so that two
    racing clients are told the same whichever check stopped them."""
    return (
        f"Part {seq} of “{title}” is being written right now. Wait for it to finish, "
        "or stop it there first."
    )
