"""One reader of the writers' event streams for every listener in a process that waits with
asyncio (the API's SSE endpoints): one thread and one Redis connection read all their streams
with one blocking XREAD, check each entry's seal once, and wake each event loop once a read
for all its listeners.

A thread and a connection per listener (each waiting in its own XREAD, handed back to the
loop through the executor) cost a Redis round trip, two thread switches and a wake of the
event loop per event per listener: with 50 watchers on one server that was a third of its
CPU (bench/FINDINGS.md, "CPU per streamed token").

Each listener keeps its own position: the hub reads a stream from the oldest position of its
listeners and hands each one only what is newer than its own, so a listener that resumes
from an earlier event (Last-Event-ID) reads on from there while the others hear nothing
twice. A listener joining wakes the hub's read at once by adding to a stream of the hub's
own (a stream command: nothing beyond what the events already need of Redis). When Redis
fails the hub lets every listener go, telling each why; they watch the database as before
(core/events/subscriber.py) and join again once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from typing import Any

from storyterm.core.events.channel import FIELD, Channel, Rejected
from storyterm.core.events.model import Event

log = logging.getLogger(__name__)

#: The longest one read waits (then the hub looks again at who listens).
WAIT_SECONDS = 1.0
#: Entries read from one stream at once.
BATCH = 500
#: The hub's wake-up stream keeps this many entries, and goes away this long after its last.
WAKE_MAXLEN = 8
WAKE_TTL_SECONDS = 3600
THREAD_NAME = "storyterm-listen-hub"

#: What a listener gets: each entry's position and its event (None: not one storyterm sealed
#: for that writer; it is only counted).
Entry = tuple[str, Event | None]


def reader_client(url: str) -> Any:
    """A Redis connection for blocking stream reads: bytes as they are stored, a read that
    waits at most WAIT_SECONDS on a socket that gives up a little after, no retries (a
    failure is the caller's to handle: it watches the database instead)."""
    import redis

    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=WAIT_SECONDS + 2.0,
        health_check_interval=0,
        retry_on_timeout=False,
    )
    client.connection_pool.connection_kwargs["decode_responses"] = False
    return client


def entry_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


class Membership:
    """One listener's place at the hub: the entries read for it, handed over in its event
    loop, and why the hub let it go (`failed`: Redis went away)."""

    __slots__ = ("_waiter", "closed", "failed", "inbox", "key", "loop", "read_id", "user_id")

    def __init__(
        self, key: str, user_id: int, position: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.key = key
        self.user_id = user_id
        self.loop = loop
        #: The newest entry handed to it (the hub's side of its position).
        self.read_id = position
        self.inbox: list[Entry] = []
        self.failed: str | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self, timeout: float) -> None:
        """Until there is something to take, the hub let it go, or `timeout` seconds."""
        if self.inbox or self.failed is not None:
            return
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self.wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> list[Entry]:
        entries, self.inbox = self.inbox, []
        return entries

    def wake(self) -> None:
        """In the listener's loop."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Hub:
    """Reads the streams of a database's writers (`channel`) at Redis `url` for the async
    listeners of this process (see the module's docstring). Started by the first `join`."""

    def __init__(self, url: str, channel: Channel) -> None:
        self.url = url
        self.channel = channel
        self._cond = threading.Condition()
        #: stream key -> its listeners
        self._members: dict[str, list[Membership]] = {}
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._closing = False
        self._wake_key = f"storyterm:{channel.namespace}:events:hub:{secrets.token_hex(8)}"
        self._wake_id = "0-0"
        #: Reads done, for tests and reports.
        self.reads = 0

    # -- the listeners' side (their event loop) -------------------------------------------------

    def join(self, key: str, user_id: int, position: str) -> tuple[Membership, bool]:
        """A listener of `key` (writer `user_id`'s stream) from just after `position`. Also
        whether the hub's read under way must be woken (`poke`, in a thread: it talks to Redis)
        for the listener to be heard at once: its stream is new to it, or it starts earlier."""
        member = Membership(key, user_id, position, asyncio.get_running_loop())
        with self._cond:
            if self._closing:
                member.failed = "the server is closing"
                return member, False
            others = self._members.setdefault(key, [])
            poke = not others or entry_order(position) < min(entry_order(m.read_id) for m in others)
            others.append(member)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            self._cond.notify()
        return member, poke

    def leave(self, member: Membership) -> None:
        """From any thread; the hub stops reading a stream nobody listens to at its next read."""
        member.closed = True
        with self._cond:
            others = self._members.get(member.key)
            if others is not None and member in others:
                others.remove(member)
                if not others:
                    del self._members[member.key]

    def poke(self) -> None:
        """Wake the hub's read under way (a blocking call: run it in a thread). When it fails
        the read ends by itself within WAIT_SECONDS."""
        import redis

        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
            try:
                pipe = client.pipeline(transaction=False)
                pipe.xadd(self._wake_key, {FIELD: b""}, maxlen=WAKE_MAXLEN, approximate=False)
                pipe.expire(self._wake_key, WAKE_TTL_SECONDS)
                pipe.execute()
            finally:
                client.close()
        except (redis.RedisError, OSError, ValueError) as exc:
            log.debug("could not wake the live events hub: %s", exc)

    # -- the hub's thread ---------------------------------------------------------------------

    def _streams(self) -> dict[str, str] | None:
        """What to read next: each stream from its listeners' oldest position (None: closing)."""
        with self._cond:
            while not self._members and not self._closing:
                self._cond.wait()
            if self._closing:
                return None
            streams = {
                key: min((m.read_id for m in members), key=entry_order)
                for key, members in self._members.items()
            }
        streams[self._wake_key] = self._wake_id
        return streams

    def _run(self) -> None:
        import redis

        while (streams := self._streams()) is not None:
            try:
                if self._client is None:
                    self._client = reader_client(self.url)
                found = self._client.xread(
                    streams, count=BATCH, block=max(1, int(WAIT_SECONDS * 1000))
                )
            except (redis.RedisError, OSError, ValueError) as exc:
                self._drop_client()
                self._let_go(str(exc) or exc.__class__.__name__)
                continue
            except Exception:  # a bug here must not leave the listeners waiting for ever
                log.exception("reading live events failed")
                self._drop_client()
                self._let_go("an unexpected error")
                continue
            self.reads += 1
            try:
                self._hand_out(found or [])
            except Exception:  # as above
                log.exception("handing out live events failed")
                self._let_go("an unexpected error")
        self._drop_client()

    def _hand_out(self, found: list[Any]) -> None:
        handed: dict[asyncio.AbstractEventLoop, list[tuple[Membership, list[Entry]]]] = {}
        with self._cond:
            members = {key: list(ms) for key, ms in self._members.items()}
        for raw_key, entries in found:
            key = raw_key.decode()
            if key == self._wake_key:
                self._wake_id = entries[-1][0].decode()
                continue
            listeners = members.get(key)
            if not listeners or not entries:
                continue
            opened = self._open(listeners[0].user_id, key, entries)
            newest = opened[-1][0]
            for member in listeners:
                since = entry_order(member.read_id)
                mine = [e for e in opened if entry_order(e[0]) > since]
                if mine:
                    member.read_id = newest
                    handed.setdefault(member.loop, []).append((member, mine))
        for loop, batch in handed.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens there
                loop.call_soon_threadsafe(_hand_over, batch)

    def _open(self, user_id: int, key: str, entries: list[Any]) -> list[Entry]:
        opened: list[Entry] = []
        for raw_id, fields in entries:
            value = fields.get(FIELD) if isinstance(fields, dict) else None
            try:
                event: Event | None = self.channel.open(user_id, value)
            except Rejected as exc:
                log.warning("ignored an event in %s: %s", key, exc)
                event = None
            opened.append((raw_id.decode(), event))
        return opened

    def _let_go(self, reason: str) -> None:
        """Redis failed: every listener is told, and let go."""
        with self._cond:
            members = [m for ms in self._members.values() for m in ms]
            self._members.clear()
        for member in members:
            member.failed = reason
            with contextlib.suppress(RuntimeError):
                member.loop.call_soon_threadsafe(member.wake)

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        self._client = None

    def close(self) -> None:
        """Stop reading (the Store closing); a read under way ends within WAIT_SECONDS."""
        with self._cond:
            self._closing = True
            running = self._thread is not None and self._members
            self._cond.notify_all()
        if running:
            self.poke()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(WAIT_SECONDS + 1.0)
        self._let_go("the server is closing")  # nobody is left waiting for a read never made


def _hand_over(batch: list[tuple[Membership, list[Entry]]]) -> None:
    """In the listeners' loop: what the hub read for them."""
    for member, entries in batch:
        if not member.closed:
            member.inbox.extend(entries)
            member.wake()
