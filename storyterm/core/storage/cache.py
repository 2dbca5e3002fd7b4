"""The Redis side: keys, TTLs, health, and checking what Redis gives back. Every Redis error
is contained here.

Redis is only ever an accelerator. Each session that is open somewhere (the hot set) has one
hash holding the session row and the newest parts, stamped with the session's `version`. A
reader trusts the hash only when its version equals the database's; anything else is dropped
and rebuilt. When Redis is down, slow or garbage, every method here returns "nothing cached"
and the cache reports itself offline until a retry finds it again.

Redis is input like any other (DESIGN.md, "Dual storage", 7): anyone who can reach it can
write to it. Every value storyterm writes is sealed with an HMAC-SHA256 of the Redis key, the
field and the value's bytes, under a key kept in the database (app_meta), so an entry storyterm
did not write, or one moved from another key or field, fails the check. A reader checks the
seal before it parses anything, then the shape (JSON of the views, the version, the session id,
each part's seq); an entry that fails any of it is a miss, and is deleted so the next open
writes a good one. Keys are namespaced by the database id and where the database lives (see
core/storage/namespace.py, `cache_namespace`), so copies of one database never share entries.

What the seal does not catch: someone who can write to Redis and kept an older value storyterm
wrote for the same field can put it back (the version is per entry and a part's field is only
rewritten when the part changes). Give a shared Redis a password.

Writes (store, update, drop) are queued and sent in order by the cache's one writer thread (a
one-worker ThreadPoolExecutor), so a save is done when its database commit is and never waits
for Redis (DESIGN.md, "Dual storage", 1 and 4). A write that never arrives is harmless: every
database write bumps the session's version, so the entry it would have moved on is behind, and
is dropped when next read. A read first waits (briefly) for this process's queued writes, so a
story opened just after a save is served from Redis again; close() sends what it can in two
seconds and drops the rest.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Hot entries live this long after their last use; paused sessions are removed at once.
HOT_TTL_SECONDS = 24 * 3600
#: After a failure, Redis is not tried again for this long (so a dead Redis costs one timeout,
#: not one per call).
RETRY_AFTER_SECONDS = 2.0
#: How many of the newest parts a hot entry carries: enough to fill the story pane.
TAIL_PARTS = 40
#: Writes waiting for the writer thread at most. Past this Redis is not keeping up, and a new
#: write is skipped (safe: see the module's docstring).
MAX_PENDING_WRITES = 256
#: How long a read waits for this process's queued writes to reach Redis first.
FLUSH_BEFORE_READ_S = 0.25
#: How long close() gives the queued writes, then the one being sent, before it drops them.
CLOSE_WAIT_S = 2.0
#: The name of the writer thread (a suffix numbers it).
WRITER_NAME = "storyterm-cache-writer"


class _View(Protocol):
    """A session or part view (core/views.py): what a hot entry is written from. Views are
    never changed after they are made (frozen: the members below are read-only properties),
    so the writer thread may serialise them later."""

    def model_dump(self, *, mode: Any = ...) -> dict[str, Any]: ...


class _SessionView(_View, Protocol):
    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...


class _PartView(_View, Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def session_id(self) -> str: ...


P = TypeVar("P", bound=_PartView)

#: Each value in a hot entry is this many hex digits of HMAC-SHA256, then the JSON it seals.
SEAL_LEN = 64


class _Rejected(ValueError):
    """A hot entry that is not what storyterm wrote (its reason says which check failed)."""


# Apply a change to a hot entry only if it still holds the version the change was made from;
# otherwise drop it (a later reader rebuilds it from the database).
#   KEYS[1] hash key; ARGV[1] expected version; ARGV[2] new version; ARGV[3] ttl;
#   ARGV[4] number of field/value pairs to set; then the pairs; then fields to delete.
#   A key of another type (a string someone SET there) is dropped too, not an error.
_CAS_SCRIPT = """
local current = redis.pcall('HGET', KEYS[1], 'v')
if type(current) == 'table' or current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
redis.call('HSET', KEYS[1], 'v', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class CacheState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


class Cache:
    """Hot copies of open sessions in Redis, namespaced by database and server, each value
    sealed with `mac_key` (the database's; without one, a key of this process only)."""

    def __init__(self, url: str | None, namespace: str, mac_key: bytes | None = None) -> None:
        self.url = url or None
        self.namespace = namespace
        # Copied per value: keying HMAC once saves its two key blocks on every seal and check.
        self._mac = hmac.new(mac_key or secrets.token_bytes(32), digestmod="sha256")
        #: Entries found in Redis that failed a check and were deleted (a count, for tests and
        #: doctor-like reports).
        self.rejected = 0
        self._client: Any = None
        self._cas: Any = None
        self._state = CacheState.DISABLED if not self.url else CacheState.ONLINE
        self._down_since: float | None = None
        self.last_error: str | None = None
        #: Sends the writes, one at a time in the order queued; made on the first write.
        self._writer: ThreadPoolExecutor | None = None
        #: The writes handed to it and not known to be done, oldest first (close waits for them).
        self._sent: deque[Future[None]] = deque()
        #: Writes queued and not started yet (at most MAX_PENDING_WRITES).
        self._waiting = 0
        #: The writer thread's id, once it has run a write (close() must not wait on itself).
        self._writer_thread: int | None = None
        #: Queued or in-flight writes per key: a read waits only for its own session's.
        self._unsent: dict[str, int] = {}
        self._closing = False
        self._skipping = False
        self._changed = threading.Condition()
        if self.url:
            self._connect()

    # -- health ---------------------------------------------------------------------------

    @property
    def state(self) -> CacheState:
        return self._state

    def _connect(self) -> None:
        import redis

        assert self.url is not None  # only called when a URL is configured
        try:
            self._client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                health_check_interval=0,
                retry_on_timeout=False,
            )
            self._cas = self._client.register_script(_CAS_SCRIPT)
            pool = self._client.connection_pool
            # Values are bytes, whatever the URL's query asks (its decode_responses would win
            # over a keyword argument of from_url).
            pool.connection_kwargs["decode_responses"] = False
            # Whatever kind of connection the URL asks for (TCP, TLS, Unix socket), send each
            # command in one write (see _OneWrite); connections are made on first use.
            pool.connection_class = type(
                "OneWrite" + pool.connection_class.__name__, (_OneWrite, pool.connection_class), {}
            )
        except (ValueError, redis.RedisError) as exc:
            self._client = None
            # A malformed URL will not fix itself: it stays offline for the whole run.
            self._mark_down(f"the Redis URL {self.url!r} is not usable ({exc})")

    def _mark_down(self, reason: str) -> None:
        if self._state is not CacheState.OFFLINE:
            log.warning("cache offline: %s", reason)
        self._state = CacheState.OFFLINE
        self._down_since = time.monotonic()
        self.last_error = reason

    def _usable(self, force: bool = False) -> bool:
        if self._client is None:
            return False
        if self._state is CacheState.OFFLINE and not force:
            assert self._down_since is not None
            if time.monotonic() - self._down_since < RETRY_AFTER_SECONDS:
                return False
        return True

    def _run(self, op: Callable[[Any], T], default: T, *, force: bool = False) -> T:
        """Run one Redis operation; any failure turns into `default` and an offline state."""
        if not self._usable(force):
            return default
        import redis

        try:
            result = op(self._client)
        except (redis.RedisError, OSError, ValueError) as exc:
            self._mark_down(str(exc) or exc.__class__.__name__)
            return default
        if self._state is CacheState.OFFLINE:
            log.info("cache back online")
        self._state = CacheState.ONLINE
        self.last_error = None
        return result

    def ping(self) -> CacheState:
        """Check Redis now (ignoring the retry pause) and return the state."""
        self._run(lambda r: r.ping(), None, force=True)
        return self._state

    # -- keys -----------------------------------------------------------------------------

    def key(self, session_id: str) -> str:
        return f"storyterm:{self.namespace}:session:{session_id}"

    # -- hot entries ----------------------------------------------------------------------

    def load(
        self, session_id: str, part: Callable[[Any], P]
    ) -> tuple[int, dict[str, Any], list[P]] | None:
        """The cached (version, session, newest parts made into views by `part`) or None.

        An entry that fails a check (its seals, then its shape: see the module's docstring) is
        a miss, and is deleted."""
        key = self.key(session_id)
        self.flush(FLUSH_BEFORE_READ_S, key=key)

        def op(r: Any) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.hgetall(key)
            pipe.expire(key, HOT_TTL_SECONDS)
            entry = pipe.execute(raise_on_error=False)[0]
            # A key of another type answers WRONGTYPE: that is the entry's fault (it is dropped
            # below), not Redis's; any other error is, and marks the cache offline.
            if isinstance(entry, Exception) and not str(entry).startswith("WRONGTYPE"):
                raise entry
            return entry

        raw = self._run(op, None)
        if not raw:
            return None
        try:
            return self._check(key, session_id, raw, part)
        except Exception as exc:  # _Rejected, or a view's own complaint (ViewError, ...)
            self.rejected += 1
            # Anything but a failed check is a surprise: its traceback goes to the log.
            log.warning(
                "dropped the hot copy of session %s: %s",
                session_id,
                exc,
                exc_info=not isinstance(exc, _Rejected),
            )
            self.drop(session_id)
            return None

    def _check(
        self, key: str, session_id: str, raw: Any, part: Callable[[Any], P]
    ) -> tuple[int, dict[str, Any], list[P]]:
        if not isinstance(raw, dict):
            raise _Rejected(f"not a hash ({raw})")
        prefix = key.encode() + b"\0"
        version_raw = raw.get(b"v")
        if not isinstance(version_raw, bytes) or not version_raw.isdigit():
            raise _Rejected("no version, or one that is not a number")
        version = int(version_raw)
        session = json.loads(self._unseal(prefix, b"s", raw.get(b"s")))
        if not isinstance(session, dict):
            raise _Rejected("the session is not a JSON object")
        if session.get("id") != session_id or session.get("version") != version:
            raise _Rejected("the session's id or version is not the entry's")
        parts = []
        for field, value in raw.items():
            if field in (b"v", b"s"):
                continue
            if not (isinstance(field, bytes) and field[:2] == b"p:" and field[2:].isdigit()):
                raise _Rejected(f"an unknown field {field!r}")
            view = part(json.loads(self._unseal(prefix, field, value)))
            if view.seq != int(field[2:]) or view.session_id != session_id:
                raise _Rejected(f"{field!r} holds another part")
            parts.append(view)
        count = session.get("part_count")
        if type(count) is not int or len(parts) != min(count, TAIL_PARTS):
            raise _Rejected(f"{len(parts)} parts, not the newest of {count}")
        parts.sort(key=lambda p: p.seq)
        return version, session, parts

    def _seal(self, prefix: bytes, field: bytes, body: bytes) -> bytes:
        """`body` with its seal in front: HMAC of the key, the field and the body."""
        mac = self._mac.copy()
        mac.update(prefix + field + b"\0")
        mac.update(body)
        return mac.hexdigest().encode() + body

    def _unseal(self, prefix: bytes, field: bytes, value: Any) -> bytes:
        """The body of a sealed value; _Rejected if storyterm did not write it there."""
        if not isinstance(value, bytes) or len(value) < SEAL_LEN:
            raise _Rejected(f"{field!r} is missing or too short to be sealed")
        body = value[SEAL_LEN:]
        mac = self._mac.copy()
        mac.update(prefix + field + b"\0")
        mac.update(body)
        if not hmac.compare_digest(mac.hexdigest().encode(), value[:SEAL_LEN]):
            raise _Rejected(f"{field!r} was not written by storyterm (its seal does not match)")
        return body

    def store(self, session: _SessionView, parts: Sequence[_PartView]) -> None:
        """Replace the hot entry for a session with this version's row and newest parts."""
        key = self.key(session.id)
        prefix = key.encode() + b"\0"
        parts = list(parts[-TAIL_PARTS:])

        def op(r: Any) -> None:
            # Serialised and sealed here, on the writer thread: never in the writer's save.
            mapping = {"v": str(session.version), "s": self._seal(prefix, b"s", _dumps(session))}
            for p in parts:
                field = f"p:{p.seq}"
                mapping[field] = self._seal(prefix, field.encode(), _dumps(p))
            pipe = r.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, HOT_TTL_SECONDS)
            pipe.execute()

        self._queue(key, op)

    def update(
        self,
        prev_version: int,
        session: _SessionView,
        parts: Sequence[_PartView] = (),
        drop_seqs: Sequence[int] = (),
    ) -> None:
        """Move a hot entry from prev_version to the session's version; if it held anything
        else, drop it."""
        key = self.key(session.id)
        prefix = key.encode() + b"\0"
        parts = list(parts)
        drop_seqs = list(drop_seqs)

        def op(_r: Any) -> Any:
            args: list[Any] = [prev_version, session.version, HOT_TTL_SECONDS, 1 + len(parts)]
            args += ["s", self._seal(prefix, b"s", _dumps(session))]
            for part in parts:
                field = f"p:{part.seq}"
                args += [field, self._seal(prefix, field.encode(), _dumps(part))]
            args += [f"p:{seq}" for seq in drop_seqs]
            return self._cas(keys=[key], args=args)

        self._queue(key, op)

    def drop(self, session_id: str) -> None:
        """Forget a session (paused, completed, deleted, or found stale)."""
        key = self.key(session_id)
        self._queue(key, lambda r: r.delete(key))

    # -- the writer thread ----------------------------------------------------------------

    def _queue(self, key: str, op: Callable[[Any], Any]) -> None:
        """Send a write from the writer thread, after every write queued before it. Never
        waits: the writer's queue is unbounded, and past MAX_PENDING_WRITES a write is
        skipped instead."""
        if not self._usable():
            return
        with self._changed:
            if self._closing:
                return
            if self._waiting >= MAX_PENDING_WRITES:
                if not self._skipping:
                    log.warning("Redis is not keeping up: skipping hot-copy writes for now")
                self._skipping = True
                return
            self._skipping = False
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WRITER_NAME)
            self._waiting += 1
            self._unsent[key] = self._unsent.get(key, 0) + 1
            # Submitted under the lock: the executor's queue order is the order queued here.
            self._sent.append(self._writer.submit(self._write, key, op))
            while self._sent and self._sent[0].done():
                self._sent.popleft()

    def _write(self, key: str, op: Callable[[Any], Any]) -> None:
        """One write, on the writer thread."""
        with self._changed:
            if self._closing:
                return  # dropped by close(), which may not have cancelled it yet
            self._waiting -= 1
            self._writer_thread = threading.get_ident()
        try:
            self._run(op, None)  # offline: it is skipped, and the queue drains at once
        except Exception:  # a bug here must not reach the executor, nor print over the TUI
            log.exception("a write to the Redis hot copy failed")
        finally:
            with self._changed:
                left = self._unsent.pop(key, 0) - 1  # (close() may have cleared it)
                if left > 0:
                    self._unsent[key] = left
                self._changed.notify_all()

    def flush(self, timeout: float = 5.0, *, key: str | None = None) -> bool:
        """Wait until every write queued so far (for `key` only, when given) has been sent or
        given up; False if that took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._unsent if key is None else key in self._unsent:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Send the queued writes (for CLOSE_WAIT_S at most), drop the rest, and disconnect."""
        self.flush(timeout=CLOSE_WAIT_S)
        with self._changed:
            self._closing = True
            self._waiting = 0
            self._unsent.clear()
            self._changed.notify_all()
            writer, self._writer = self._writer, None
            sent, self._sent = list(self._sent), deque()
        if writer is not None:
            # Writes not started are dropped; the one being sent may finish first.
            writer.shutdown(wait=False, cancel_futures=True)
            if threading.get_ident() != self._writer_thread:
                wait_for(sent, timeout=CLOSE_WAIT_S)
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection must never matter
                self._client.close()


if TYPE_CHECKING:
    # What _OneWrite is always mixed into (Cache._connect): mypy then checks its super() call.
    from redis.connection import AbstractConnection as _Connection
else:
    _Connection = object  # redis loads only when a Redis URL is configured


class _OneWrite(_Connection):
    """redis-py sends a value over 6,000 bytes as a write of its own, so a checkpoint of a long
    part went out as three TCP segments and woke Redis (and then this client) three times. One
    write of the joined command (a copy of the value) is cheaper (bench/FINDINGS.md)."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not isinstance(command, (str, bytes)) and len(command) > 1:
            command = [b"".join(command)]
        super().send_packed_command(command, check_health)


def _dumps(view: _View) -> bytes:
    # ASCII JSON (non-ASCII letters as \u escapes): the C encoder writes it about twice as
    # fast, and a streaming part's whole text is written at every checkpoint.
    text = json.dumps(view.model_dump(mode="json"), separators=(",", ":"), default=str)
    return text.encode("ascii")
