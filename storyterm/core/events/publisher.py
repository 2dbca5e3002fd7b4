"""Sending events to Redis after the database commit, from a thread of its own: a save never
waits for Redis, and Redis slow, down or gone costs a save nothing (the discipline of the cache's
writer thread, core/storage/cache.py).

Streamed text is coalesced: what the model writes into a part between two sends goes out as
one `part.text` event, and the text of every part being written goes out together, at most
TEXT_PER_SECOND times a second (the first piece after a quiet spell at once). Together, not
each part on a clock of its own: a server writing many parts then makes one Redis round trip
a send instead of one per part, and a reader of many streams (core/events/hub.py) finds them
all in one read. A committed event of a story first sends the text buffered for it, so a
listener never hears "part finished" before the last of its text.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgspec

from storyterm.core.events.channel import FIELD, Channel
from storyterm.core.events.model import Event, EventKind

log = logging.getLogger(__name__)

#: The most text sends a second, each with the text of every part (the issue asks for ~20-30
#: events a second per part).
TEXT_PER_SECOND = 25
#: Events waiting for the thread at most; past this Redis is not keeping up and events are
#: dropped (harmless: a listener that misses one sees the next version jump and reads again).
MAX_PENDING = 2_000
#: After a failure, Redis is not tried again for this long (one timeout per outage, not one per
#: save or per token).
RETRY_AFTER_SECONDS = 2.0
#: Each writer's stream keeps about this many events (Last-Event-ID resumes within them).
STREAM_MAXLEN = 5_000
#: A writer's stream goes away this long after its last event.
STREAM_TTL_SECONDS = 24 * 3600
#: How long close() gives the events still queued.
CLOSE_WAIT_S = 1.0
THREAD_NAME = "storyterm-events"


class _Text:
    """Text of one part not sent yet: where it starts and the pieces since."""

    __slots__ = ("at", "offset", "pieces", "seq", "session_id", "size", "user_id", "version")

    def __init__(
        self, user_id: int, session_id: str, seq: int, version: int | None, offset: int
    ) -> None:
        self.user_id, self.session_id, self.seq = user_id, session_id, seq
        self.version, self.offset = version, offset
        self.pieces: list[str] = []
        self.size = 0
        self.at = time.time()

    @property
    def end(self) -> int:
        return self.offset + self.size

    def add(self, text: str, version: int | None) -> None:
        self.pieces.append(text)
        self.size += len(text)
        if version is not None:
            self.version = version

    def event(self) -> Event:
        return Event(
            kind=EventKind.TEXT_ADDED,
            user_id=self.user_id,
            session_id=self.session_id,
            version=self.version,
            seq=self.seq,
            offset=self.offset,
            text="".join(self.pieces),
            at=self.at,
        )


class Publisher:
    """Puts events on their writers' streams (`channel`), in the order given, after commit."""

    def __init__(
        self, url: str | None, channel: Channel, *, text_per_second: float = TEXT_PER_SECOND
    ) -> None:
        self.url = url or None
        self.channel = channel
        self.text_interval = 1.0 / text_per_second
        self._cond = threading.Condition()
        self._items: deque[Event] = deque()
        self._texts: dict[tuple[str, int], _Text] = {}
        #: When the buffered text last went out (time.monotonic()).
        self._text_sent = -self.text_interval
        self._thread: threading.Thread | None = None
        self._closing = False
        #: A batch taken off the queue is being sent.
        self._busy = False
        #: When the thread looks at the queue next on its own (time.monotonic(); inf: only
        #: when told; in the past: it is awake and will look before it waits again).
        self._wake_at = 0.0
        self._client: Any = None
        self._down_until = 0.0
        self._warned = False
        #: Counts, for doctor-like reports and tests.
        self.sent = 0
        self.dropped = 0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def _resting(self) -> bool:
        return time.monotonic() < self._down_until

    # -- from the writers' threads (never waits) ---------------------------------------------

    def publish(self, events: Sequence[Event]) -> None:
        """Queue committed changes (the transaction calls this once its commit is done)."""
        if not self.enabled or not events or self._resting():
            return
        now = time.time()
        with self._cond:
            if self._closing:
                return
            for event in events:
                for key in [k for k in self._texts if k[0] == event.session_id]:
                    self._queue(self._texts.pop(key).event())
                self._queue(msgspec.structs.replace(event, at=now))
            self._start()
            self._cond.notify()

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
        """The model wrote `text` at `offset` of part `seq`: sent with the text around it, at
        most TEXT_PER_SECOND times a second."""
        if not self.enabled or not text or self._resting():
            return
        key = (session_id, seq)
        with self._cond:
            if self._closing:
                return
            buffered = self._texts.get(key)
            wake = False
            if buffered is not None and buffered.end != offset:
                self._queue(self._texts.pop(key).event())
                buffered = None
                wake = True
            if buffered is None:
                buffered = self._texts[key] = _Text(user_id, session_id, seq, version, offset)
                # The thread must hear of a new piece only when it would look later than the
                # piece is due: text added to what already waits goes out with it. Waking it
                # for every token cost a thread switch a token (most of this call's time).
                wake = wake or self._text_sent + self.text_interval < self._wake_at
            buffered.add(text, version)
            self._start()
            if wake:
                self._cond.notify()

    def _queue(self, event: Event) -> None:
        if len(self._items) >= MAX_PENDING:
            self.dropped += 1
            if not self._warned:
                log.warning("Redis is not keeping up: dropping live events for now")
                self._warned = True
            return
        self._items.append(event)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
            self._thread.start()

    # -- the thread ---------------------------------------------------------------------------

    def _take(self) -> list[Event] | None:
        """The next events to send, once there are some (None: closed and nothing left)."""
        with self._cond:
            while True:
                now = time.monotonic()
                wait: float | None = None
                if self._texts:
                    due = self._text_sent + self.text_interval
                    if due <= now or self._closing:
                        for text in self._texts.values():
                            self._queue(text.event())
                        self._texts.clear()
                        self._text_sent = now
                    else:
                        wait = due - now
                if self._items:
                    batch = list(self._items)
                    self._items.clear()
                    self._busy = True
                    return batch
                if self._closing:
                    return None
                self._wake_at = math.inf if wait is None else now + wait
                self._cond.wait(wait)
                self._wake_at = 0.0

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._send(batch)
            except Exception:  # a bug here must not end the thread, nor print over the TUI
                log.exception("sending live events failed")
            finally:
                with self._cond:
                    self._busy = False

    def _send(self, batch: list[Event]) -> None:
        if self._resting():
            self.dropped += len(batch)
            return
        import redis

        try:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self.url or "",
                    socket_connect_timeout=0.5,
                    socket_timeout=0.5,
                    health_check_interval=0,
                    retry_on_timeout=False,
                )
                self._client.connection_pool.connection_kwargs["decode_responses"] = False
            pipe = self._client.pipeline(transaction=False)
            keys = set()
            for event in batch:
                key = self.channel.key(event.user_id)
                keys.add(key)
                pipe.xadd(
                    key, {FIELD: self.channel.seal(event)}, maxlen=STREAM_MAXLEN, approximate=True
                )
            for key in keys:
                pipe.expire(key, STREAM_TTL_SECONDS)
            pipe.execute()
        except (redis.RedisError, OSError, ValueError) as exc:
            self.dropped += len(batch)
            self.last_error = str(exc) or exc.__class__.__name__
            if not self._resting():
                log.warning("live events not sent: %s", self.last_error)
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            with self._cond:  # what waits would only go out late: drop it too
                self.dropped += len(self._texts)
                self._texts.clear()
            return
        if self.last_error is not None:
            log.info("live events flowing again")
        self.last_error = None
        self._warned = False
        self.sent += len(batch)

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until what is queued now has been sent (tests, close)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._items and not self._texts and not self._busy:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_WAIT_S)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
