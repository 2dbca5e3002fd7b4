"""Listening to a writer's events (all of them, or one story's): live from the writer's Redis
stream, or, without Redis or while it is down, from the database's versions every few seconds.

A subscriber says which mode it is in with a `Status` (first thing, and at every change), goes
back to live as soon as Redis answers again, and never misses a change across the switches:
what it knows of each session's version (core/events/database_watch.py) is compared with the
database when it falls back and again when it returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from storyterm.core.events.channel import FIELD, Channel, Rejected
from storyterm.core.events.database_watch import DatabaseWatch
from storyterm.core.events.hub import Entry, Hub, Membership, reader_client
from storyterm.core.events.model import Event, Mode, Status
from storyterm.core.events.publisher import RETRY_AFTER_SECONDS
from storyterm.errors import StorytermError

log = logging.getLogger(__name__)

#: How often the database is looked at without Redis (and Redis tried again).
POLL_SECONDS = 2.0
#: The longest a read waits for Redis before it returns (so a caller can stop or keep alive).
WAIT_SECONDS = 1.0
#: Entries read from the stream at once.
BATCH = 500
#: Back to live after an outage, the database is still looked at for this long: a writer's
#: publisher that failed during the outage drops its events until it tries Redis again
#: (publisher.RETRY_AFTER_SECONDS), so a change made just as Redis came back reaches nobody's
#: stream.
GRACE_SECONDS = 2 * RETRY_AFTER_SECONDS + 1.0

Item = Event | Status

_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
#: Threads for the async side (the API): each waiting subscriber holds one for up to
#: WAIT_SECONDS; asyncio's default pool is too small to hold many watchers.
_threads: concurrent.futures.ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()


def _entry(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq)


def valid_entry_id(value: str | None) -> bool:
    """Whether `value` is a stream position (a Last-Event-ID storyterm sent)."""
    return bool(value) and _ENTRY_ID.match(value or "") is not None


class Subscriber:
    """A writer's events as they happen (one story's with `session_id`). Made by
    `EventBus.subscribe`, which checks the story is the writer's."""

    def __init__(
        self,
        url: str | None,
        channel: Channel,
        watch: DatabaseWatch,
        *,
        last_id: str | None = None,
        poll_seconds: float = POLL_SECONDS,
        hub: Hub | None = None,
    ) -> None:
        self.url = url or None
        #: Where `stream` reads live events (None: from a connection of its own).
        self.hub = hub
        self._membership: Membership | None = None
        self.channel = channel
        self.watch = watch
        self.user_id = watch.user_id
        self.session_id = watch.session_id
        self.key = channel.key(self.user_id)
        self.poll_seconds = poll_seconds
        self.mode = Mode.POLLING
        self.reason = ""
        #: Entries in the stream that failed the seal or the shape (dropped).
        self.rejected = 0
        self._client: Any = None
        self._position = "0-0"
        self._next_poll = 0.0
        #: Until when the database is still looked at while live (GRACE_SECONDS).
        self._grace_until = 0.0
        self._closed = threading.Event()
        self._pending: list[Item] = []
        resume = last_id if valid_entry_id(last_id) else None
        self._start(resume, asked_resume=last_id is not None)

    # -- starting -----------------------------------------------------------------------------

    def _start(self, resume: str | None, *, asked_resume: bool) -> None:
        # The stream position first, then the database: a change committed in between is in
        # both (heard twice, harmless), never in neither.
        live, reason = self._connect()
        resync = asked_resume and resume is None
        if live and resume is not None:
            resync = self._resume_lost(resume)
            if not resync:
                self._position = resume
        try:
            self.watch.start()  # NotFound for another writer's story
        except BaseException:
            self._drop_client()
            raise
        if live:
            self.mode, self.reason = Mode.LIVE, "live events"
        else:
            self.mode, self.reason = Mode.POLLING, reason
            self._next_poll = time.monotonic() + self.poll_seconds
            resync = resync or asked_resume
        self._pending.append(Status(mode=self.mode, reason=self.reason, resync=resync))

    def _connect(self) -> tuple[bool, str]:
        """Reach Redis and take the stream's newest position: (live, why not)."""
        if self.url is None:
            return False, "no Redis is set up: watching the database every few seconds"
        import redis

        try:
            if self._client is None:
                self._client = reader_client(self.url)
            newest = self._client.xrevrange(self.key, count=1)
        except (redis.RedisError, OSError, ValueError) as exc:
            self._drop_client()
            why = str(exc) or exc.__class__.__name__
            return False, f"Redis is not reachable ({why}): watching the database every few seconds"
        self._position = newest[0][0].decode() if newest else "0-0"
        return True, ""

    def _resume_lost(self, last_id: str) -> bool:
        """Whether events after `last_id` may be gone (trimmed, expired, or an id from the
        future): the listener is then told to read again."""
        newest = _entry(self._position)
        if _entry(last_id) > newest:
            return True
        try:
            oldest = self._client.xrange(self.key, count=1)
        except Exception:  # the next read finds out whether Redis is there
            return True
        if not oldest:
            return True
        return _entry(oldest[0][0].decode()) > _entry(last_id) and self._trimmed_after(last_id)

    def _trimmed_after(self, last_id: str) -> bool:
        try:
            info = self._client.xinfo_stream(self.key)
        except Exception:
            return True
        deleted = info.get("max-deleted-entry-id") or info.get(b"max-deleted-entry-id")
        if deleted is None:  # Redis before 7 does not say: assume the worst
            return True
        deleted = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
        return _entry(deleted) > _entry(last_id)

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    # -- reading ------------------------------------------------------------------------------

    def next(self, timeout: float = WAIT_SECONDS) -> list[Item]:
        """What happened since the last call, waiting up to `timeout` seconds for something
        (an empty list when nothing did, or when closed)."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        if self._closed.is_set():
            return []
        if self.mode is Mode.LIVE:
            return self._read_live(timeout)
        return self._read_polling(timeout)

    def _read_live(self, timeout: float) -> list[Item]:
        import redis

        grace = time.monotonic() < self._grace_until
        if grace:
            timeout = max(0.001, min(timeout, self._next_poll - time.monotonic()))
        try:
            found = self._client.xread(
                {self.key: self._position}, count=BATCH, block=max(1, int(timeout * 1000))
            )
        except (redis.RedisError, OSError, ValueError, AttributeError) as exc:
            if self._closed.is_set():
                return []
            why = str(exc) or exc.__class__.__name__
            return self._fall_back(f"Redis went away ({why}): watching the database instead")
        entries: list[Entry] = []
        for _key, raw in found or ():
            for raw_id, fields in raw:
                try:
                    event: Event | None = self.channel.open(self.user_id, fields.get(FIELD))
                except Rejected as exc:
                    log.warning("ignored an event in %s: %s", self.key, exc)
                    event = None
                entries.append((raw_id.decode(), event))
        out = self._take(entries)
        if grace and time.monotonic() >= self._next_poll:
            out += self._poll()  # after what was heard: those changes are known by now
            self._next_poll = time.monotonic() + self.poll_seconds
        return out

    def _take(self, entries: list[Entry]) -> list[Item]:
        """The events of entries read from the stream (None: one that failed its seal)."""
        out: list[Item] = []
        for entry_id, event in entries:
            self._position = entry_id
            if event is None:
                self.rejected += 1
                continue
            if self.session_id is not None and event.session_id != self.session_id:
                continue
            self.watch.note(event)
            out.append(event.with_id(entry_id))
        return out

    def _fall_back(self, reason: str) -> list[Item]:
        self._drop_client()
        self.mode, self.reason = Mode.POLLING, reason
        out: list[Item] = [Status(mode=Mode.POLLING, reason=reason)]
        out += self._poll()
        self._next_poll = time.monotonic() + self.poll_seconds
        return out

    def _read_polling(self, timeout: float) -> list[Item]:
        wait = self._next_poll - time.monotonic()
        if wait > timeout:
            self._closed.wait(timeout)
            return []
        if wait > 0 and self._closed.wait(wait):
            return []
        live, _why = self._connect()  # first the position, then the database (see _start)
        out = self._poll()
        self._next_poll = time.monotonic() + self.poll_seconds
        if live:
            self.mode, self.reason = Mode.LIVE, "live events again"
            self._grace_until = time.monotonic() + GRACE_SECONDS
            out.append(Status(mode=Mode.LIVE, reason=self.reason))
        return out

    def _poll(self) -> list[Item]:
        try:
            return list(self.watch.changes())
        except StorytermError as exc:  # the database is down too: say so once, keep trying
            reason = f"the database is not answering: {exc}"
            if reason == self.reason:
                return []
            self.reason = reason
            return [Status(mode=self.mode, reason=reason)]

    def __iter__(self) -> Iterator[Item]:
        while not self._closed.is_set():
            yield from self.next()

    async def stream(self, timeout: float = WAIT_SECONDS) -> AsyncIterator[list[Item]]:
        """The same batches for asyncio (the API). Live, the events come from the hub when
        there is one (one reader for every listener of the process: core/events/hub.py);
        otherwise, and while falling back to the database or coming back from it, each wait
        runs in a thread of its own, so that many listeners never hold the event loop. An
        empty batch comes every `timeout` seconds of quiet (time for a keep-alive)."""
        loop = asyncio.get_running_loop()
        pool = _pool()
        try:
            while not self._closed.is_set():
                if not self._from_hub():
                    self._leave_hub()
                    yield await loop.run_in_executor(pool, self.next, timeout)
                    continue
                member = self._membership or self._join_hub(pool)
                await member.wait(timeout)
                if member.failed is not None and not member.inbox:
                    self._membership = None
                    why = f"Redis went away ({member.failed}): watching the database instead"
                    yield await loop.run_in_executor(pool, self._fall_back, why)
                    continue
                yield self._take(member.take())
        finally:
            self._leave_hub()

    def _from_hub(self) -> bool:
        """Whether the next live events come from the hub: live, past the grace period, with
        nothing said yet waiting."""
        return (
            self.hub is not None
            and self.mode is Mode.LIVE
            and not self._pending
            and time.monotonic() >= self._grace_until
        )

    def _join_hub(self, pool: concurrent.futures.Executor) -> Membership:
        hub = self.hub
        assert hub is not None
        member, poke = hub.join(self.key, self.user_id, self._position)
        if poke:  # a call to Redis: never on the event loop
            pool.submit(hub.poke)
        self._membership = member
        self._drop_client()  # the hub reads for it now; _connect makes one again when needed
        return member

    def _leave_hub(self) -> None:
        member, self._membership = self._membership, None
        if member is not None and self.hub is not None:
            self.hub.leave(member)

    def close(self) -> None:
        self._closed.set()
        self._leave_hub()
        self._drop_client()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _threads
    with _threads_lock:
        if _threads is None:
            _threads = concurrent.futures.ThreadPoolExecutor(
                max_workers=256, thread_name_prefix="storyterm-listen"
            )
        return _threads
