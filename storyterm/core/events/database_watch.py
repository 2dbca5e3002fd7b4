"""Hearing of changes without Redis: the database's session versions, compared with what a
listener last knew, turned into made-up (`synthetic`) events. The queries are cheap and live
with the storage (core/storage/versions.py): the writer's sessions changed since the last look
(an index on user_id, updated_at), and their count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from storyterm.core.events.model import Event, EventKind
from storyterm.errors import NotFound

#: Clocks of the machines that write one database may differ: a look goes back this far.
CLOCK_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Mark:
    """One session as the watch sees it."""

    id: str
    version: int
    title: str
    status: str
    trashed: bool
    updated_at: datetime | None


class VersionReader(Protocol):
    """The database side of the watch (core/storage/versions.py)."""

    def marks(self, user_id: int, session_id: str | None, since: datetime | None) -> list[Mark]:
        """The writer's sessions (or the one story) changed at `since` or later (all: None)."""
        ...

    def count(self, user_id: int) -> int:
        """How many sessions the writer has, trash included."""
        ...


class DatabaseWatch:
    """What a listener knows of a writer's sessions (or of one story): each one's version and
    whether it is in the trash. Events heard live keep it up to date (`note`); `changes`
    compares it with the database."""

    def __init__(self, reader: VersionReader, user_id: int, session_id: str | None = None) -> None:
        self.reader = reader
        self.user_id = user_id
        self.session_id = session_id
        #: session id -> (version, in the trash)
        self.known: dict[str, tuple[int, bool]] = {}
        self._since: datetime | None = None

    def start(self) -> None:
        """Read what the database holds now; NotFound when the story is not the writer's."""
        marks = self.reader.marks(self.user_id, self.session_id, None)
        if self.session_id is not None and not marks:
            raise NotFound(f"No story session {self.session_id!r} here.")
        self.known = {m.id: (m.version, m.trashed) for m in marks}
        self._advance(marks)

    def note(self, event: Event) -> None:
        """An event heard live: the listener knows this version now."""
        if event.kind is EventKind.SESSION_REMOVED:
            self.known.pop(event.session_id, None)
            return
        if event.version is None:
            return
        version, trashed = self.known.get(event.session_id, (0, False))
        if event.kind is EventKind.SESSION_DELETED:
            trashed = True
        elif event.kind is EventKind.SESSION_RESTORED:
            trashed = False
        self.known[event.session_id] = (max(version, event.version), trashed)

    def changes(self) -> list[Event]:
        """An event for each session whose version moved on since the listener last knew it,
        came, or went."""
        since = None if self._since is None else self._since - CLOCK_MARGIN
        marks = self.reader.marks(self.user_id, self.session_id, since)
        events = [e for m in marks if (e := self._compare(m)) is not None]
        self._advance(marks)
        if self.session_id is not None:
            if not marks and self.session_id in self.known:
                events.append(self._removed(self.session_id))
            return events
        if self.reader.count(self.user_id) != len(self.known):
            present = {m.id: m for m in self.reader.marks(self.user_id, None, None)}
            for session_id in [s for s in self.known if s not in present]:
                events.append(self._removed(session_id))
            events += [e for m in present.values() if (e := self._compare(m)) is not None]
        return events

    def _compare(self, mark: Mark) -> Event | None:
        before = self.known.get(mark.id)
        self.known[mark.id] = (mark.version, mark.trashed)
        if before is None:
            kind = EventKind.SESSION_CREATED
        elif mark.version <= before[0]:
            self.known[mark.id] = before
            return None
        elif mark.trashed and not before[1]:
            kind = EventKind.SESSION_DELETED
        elif before[1] and not mark.trashed:
            kind = EventKind.SESSION_RESTORED
        else:
            kind = EventKind.SESSION_CHANGED
        return Event(
            kind=kind,
            user_id=self.user_id,
            session_id=mark.id,
            version=mark.version,
            title=mark.title,
            status=mark.status,
            synthetic=True,
        )

    def _removed(self, session_id: str) -> Event:
        self.known.pop(session_id, None)
        return Event(
            kind=EventKind.SESSION_REMOVED,
            user_id=self.user_id,
            session_id=session_id,
            synthetic=True,
        )

    def _advance(self, marks: list[Mark]) -> None:
        stamps = [m.updated_at for m in marks if m.updated_at is not None]
        if stamps:
            newest = max(stamps)
            self._since = newest if self._since is None else max(self._since, newest)
