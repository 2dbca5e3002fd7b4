"""What a live event says: which change, to whose story, at which version (importable without
SQLAlchemy, Redis, LangChain or Textual)."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class EventKind(StrEnum):
    """Every kind of change a listener hears of. `session.changed` also stands for any change
    found by watching the database (no event was heard for it: core/events/database_watch.py)."""

    SESSION_CREATED = "session.created"
    SESSION_RENAMED = "session.renamed"
    STATUS_CHANGED = "session.status"
    SESSION_DELETED = "session.deleted"  # moved to the trash
    SESSION_RESTORED = "session.restored"  # back from the trash
    SESSION_REMOVED = "session.removed"  # deleted for good
    MEMORY_CHANGED = "session.memory"
    BIBLE_CHANGED = "session.bible"
    LORE_CHANGED = "session.lore"  # a lorebook entry added, changed, deleted or restored
    SESSION_CHANGED = "session.changed"
    PART_BEGUN = "part.begun"
    TEXT_ADDED = "part.text"
    PART_SAVED = "part.saved"  # a checkpoint of a part being written
    PART_FINISHED = "part.finished"
    PART_INTERRUPTED = "part.interrupted"
    PART_CHANGED = "part.changed"  # added whole, edited, moved to or back from the trash
    VERSION_CHOSEN = "part.chosen"  # another take of a part chosen


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One change to one of a writer's sessions, sent after the database committed it.

    `version` is the session's version once the change was made (None: the session is gone).
    A text event (`part.text`) carries the text appended to part `seq` and `offset`, where
    it starts in the part's text: a listener whose copy is not `offset` characters long missed
    some, and reads the part again. Its version is that of the part's last save (the text
    itself is saved at the next checkpoint).

    `id` is where the event sits in the writer's stream (Redis's entry id; empty for events
    made up by the database watch, which are `synthetic`).
    """

    kind: EventKind
    user_id: int
    session_id: str
    version: int | None = None
    seq: int | None = None
    offset: int | None = None
    text: str | None = None
    title: str | None = None
    status: str | None = None
    #: When it was sent (seconds since the epoch): listeners measure how late they hear it.
    at: float = 0.0
    synthetic: bool = False
    id: str = ""

    def with_id(self, entry_id: str) -> Event:
        return msgspec.structs.replace(self, id=entry_id)

    def to_json(self) -> bytes:
        return _encode(self)

    def as_dict(self) -> dict[str, object]:
        """The event as JSON types (what `storyterm watch --json` and the API send)."""
        out: dict[str, object] = msgspec.to_builtins(self)
        return out


class Mode(StrEnum):
    """How a subscriber hears of changes."""

    LIVE = "live"  # events from Redis as they are published
    POLLING = "polling"  # Redis is not there: the database's versions, every few seconds


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """A subscriber's word about itself: the mode it is now in and why; `resync`: events may
    have been missed (a resume from an event Redis no longer holds), so read again whatever is
    shown."""

    mode: Mode
    reason: str = ""
    resync: bool = False

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = msgspec.to_builtins(self)
        return out


_encode = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(Event).decode


def decode_event(body: bytes) -> Event:
    """An event from its JSON; msgspec.ValidationError (a ValueError) when it is not one."""
    return _decode_event(body)
