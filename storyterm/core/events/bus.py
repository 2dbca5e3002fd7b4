"""One database's live events: the publisher its transactions hand their commits to, and the
subscribers its front ends listen with."""

from __future__ import annotations

from collections.abc import Sequence

from storyterm.core.events.channel import Channel
from storyterm.core.events.database_watch import DatabaseWatch, VersionReader
from storyterm.core.events.hub import Hub
from storyterm.core.events.model import Event
from storyterm.core.events.publisher import Publisher
from storyterm.core.events.subscriber import POLL_SECONDS, Subscriber


class EventBus:
    """Publishes a database's committed changes on Redis (at `url`; None: nowhere, and every
    subscriber watches the database) and hands out subscribers."""

    def __init__(self, url: str | None, channel: Channel, versions: VersionReader) -> None:
        self.url = url or None
        self.channel = channel
        self.versions = versions
        self.publisher = Publisher(self.url, channel)
        #: One reader of the streams for the listeners that wait with asyncio (the API).
        self.hub = Hub(self.url, channel) if self.url else None
        #: How often a subscriber without Redis looks at the database (tests make it shorter).
        self.poll_seconds = POLL_SECONDS

    def publish(self, events: Sequence[Event]) -> None:
        """Committed changes (Transactions.on_commit): queued, never waited for."""
        self.publisher.publish(events)

    def text(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        *,
        offset: int,
        text: str,
        version: int | None = None,
    ) -> None:
        """Text the model just wrote into part `seq` at `offset` (coalesced per part)."""
        self.publisher.text(user_id, session_id, seq, offset=offset, text=text, version=version)

    def subscribe(
        self, user_id: int, session_id: str | None = None, *, last_id: str | None = None
    ) -> Subscriber:
        """A listener for the writer's events (one story's with `session_id`), from just after
        `last_id` when Redis still holds it. NotFound for a story that is not the writer's."""
        watch = DatabaseWatch(self.versions, user_id, session_id)
        return Subscriber(
            self.url,
            self.channel,
            watch,
            last_id=last_id,
            poll_seconds=self.poll_seconds,
            hub=self.hub,
        )

    def close(self) -> None:
        self.publisher.close()
        if self.hub is not None:
            self.hub.close()


class LiveText:
    """The text of one part being written, told to listeners as it grows: each piece with the
    offset it starts at (a listener whose copy is shorter missed some and reads again)."""

    __slots__ = ("bus", "length", "seq", "session_id", "user_id", "version")

    def __init__(self, bus: EventBus, user_id: int, session_id: str, seq: int, start: int) -> None:
        self.bus, self.user_id, self.session_id, self.seq = bus, user_id, session_id, seq
        #: The part's length as listeners have heard it.
        self.length = start
        #: The session's version at the part's last save (None before its first checkpoint).
        self.version: int | None = None

    def add(self, text: str) -> None:
        """Never waits: called for every piece the model writes."""
        self.bus.text(
            self.user_id,
            self.session_id,
            self.seq,
            offset=self.length,
            text=text,
            version=self.version,
        )
        self.length += len(text)
