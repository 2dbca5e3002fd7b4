"""The Redis side: keys, TTLs, health. Every Redis error is contained here.

Redis is only ever an accelerator. Each session that is open somewhere (the hot set) has one
hash holding the session row and the newest parts, stamped with the session's `version`. A
reader trusts the hash only when its version equals the database's; anything else is dropped
and rebuilt. When Redis is down, slow or garbage, every method here returns "nothing cached"
and the cache reports itself offline until a retry finds it again.

Writes (store, update, drop) are queued and sent in order by a writer thread of the cache's
own, so a save is done when its database commit is and never waits for Redis (DESIGN.md,
"Dual storage", 1 and 4). A write that never arrives is harmless: every database write bumps the
session's version, so the entry it would have moved on is behind, and is dropped when next
read. A read first waits (briefly) for this process's queued writes, so a story opened just
after a save is served from Redis again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol, TypeVar

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
#: The writer thread ends after this long without writes (the next write starts another).
WRITER_IDLE_EXIT_S = 30.0


class _View(Protocol):
    """A session or part view (core/views.py): what a hot entry is written from. Views are
    never changed after they are made, so the writer thread may serialise them later."""

    def model_dump(self, *, mode: Any = ...) -> dict[str, Any]: ...


class _SessionView(_View, Protocol):
    id: str
    version: int


class _PartView(_View, Protocol):
    seq: int


# Apply a change to a hot entry only if it still holds the version the change was made from;
# otherwise drop it (a later reader rebuilds it from the database).
#   KEYS[1] hash key; ARGV[1] expected version; ARGV[2] new version; ARGV[3] ttl;
#   ARGV[4] number of field/value pairs to set; then the pairs; then fields to delete.
_CAS_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'v')
if current ~= ARGV[1] then
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
    """Hot copies of open sessions in Redis, namespaced by database id."""

    def __init__(self, url: str | None, namespace: str) -> None:
        self.url = url or None
        self.namespace = namespace
        self._client: Any = None
        self._cas: Any = None
        self._state = CacheState.DISABLED if not self.url else CacheState.ONLINE
        self._down_since: float | None = None
        self.last_error: str | None = None
        self._pending: deque[tuple[str, Callable[[Any], Any]]] = deque()
        #: Queued or in-flight writes per key: a read waits only for its own session's.
        self._unsent: dict[str, int] = {}
        self._closing = False
        self._skipping = False
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        if self.url:
            self._connect()

    # -- health ---------------------------------------------------------------------------

    @property
    def state(self) -> CacheState:
        return self._state

    def _connect(self) -> None:
        import redis

        try:
            self._client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                health_check_interval=0,
                retry_on_timeout=False,
            )
            self._cas = self._client.register_script(_CAS_SCRIPT)
            # Whatever kind of connection the URL asks for (TCP, TLS, Unix socket), send each
            # command in one write (see _OneWrite); connections are made on first use.
            pool = self._client.connection_pool
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

    def load(self, session_id: str) -> tuple[int, dict[str, Any], list[dict[str, Any]]] | None:
        """The cached (version, session, newest parts) or None. Garbage counts as a miss."""
        self.flush(FLUSH_BEFORE_READ_S, key=self.key(session_id))

        def op(r: Any) -> Any:
            pipe = r.pipeline(transaction=False)
            pipe.hgetall(self.key(session_id))
            pipe.expire(self.key(session_id), HOT_TTL_SECONDS)
            return pipe.execute()[0]

        raw = self._run(op, None)
        if not raw:
            return None
        try:
            version = int(raw[b"v"])
            session = json.loads(raw[b"s"])
            parts = [json.loads(v) for k, v in raw.items() if k.startswith(b"p:")]
        except (KeyError, ValueError, TypeError):
            self.drop(session_id)
            return None
        parts.sort(key=lambda p: p["seq"])
        return version, session, parts

    def store(self, session: _SessionView, parts: Sequence[_PartView]) -> None:
        """Replace the hot entry for a session with this version's row and newest parts."""
        key = self.key(session.id)
        parts = list(parts[-TAIL_PARTS:])

        def op(r: Any) -> None:
            mapping = {"v": str(session.version), "s": _dumps(session)}
            mapping.update({f"p:{p.seq}": _dumps(p) for p in parts})
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
        parts = list(parts)
        drop_seqs = list(drop_seqs)

        def op(_r: Any) -> Any:
            args: list[Any] = [prev_version, session.version, HOT_TTL_SECONDS, 1 + len(parts)]
            args += ["s", _dumps(session)]
            for part in parts:
                args += [f"p:{part.seq}", _dumps(part)]
            args += [f"p:{seq}" for seq in drop_seqs]
            return self._cas(keys=[key], args=args)

        self._queue(key, op)

    def drop(self, session_id: str) -> None:
        """Forget a session (paused, completed, deleted, or found stale)."""
        key = self.key(session_id)
        self._queue(key, lambda r: r.delete(key))

    # -- the writer thread ----------------------------------------------------------------

    def _queue(self, key: str, op: Callable[[Any], Any]) -> None:
        """Send a write from the writer thread, after every write queued before it."""
        if not self._usable():
            return
        with self._changed:
            if self._closing:
                return
            if len(self._pending) >= MAX_PENDING_WRITES:
                if not self._skipping:
                    log.warning("Redis is not keeping up: skipping hot-copy writes for now")
                self._skipping = True
                return
            self._skipping = False
            self._pending.append((key, op))
            self._unsent[key] = self._unsent.get(key, 0) + 1
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_queued, name="storyterm-cache-writer", daemon=True
                )
                self._writer.start()
            self._changed.notify_all()

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    if self._closing:
                        self._writer = None
                        return
                    if not self._changed.wait(WRITER_IDLE_EXIT_S) and not self._pending:
                        self._writer = None  # idle for a while: the next write starts another
                        return
                key, op = self._pending.popleft()
            try:
                self._run(op, None)  # offline: it is skipped, and the queue drains at once
            except Exception:  # a bug here must not end the thread, nor print over the TUI
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
        self.flush(timeout=2.0)
        with self._changed:
            self._closing = True
            self._pending.clear()
            self._unsent.clear()
            self._changed.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=2.0)
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection must never matter
                self._client.close()


class _OneWrite:
    """redis-py sends a value over 6,000 bytes as a write of its own, so a checkpoint of a long
    part went out as three TCP segments and woke Redis (and then this client) three times. One
    write of the joined command (a 30 KB copy) took 0.3-0.5 ms off the p50 of a 4,500-word
    checkpoint with Redis on (bench/FINDINGS.md)."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not isinstance(command, (str, bytes)) and len(command) > 1:
            command = [b"".join(command)]
        super().send_packed_command(command, check_health)  # type: ignore[misc]


def _dumps(view: _View) -> str:
    # ASCII JSON (non-ASCII letters as \u escapes): the C encoder writes it about twice as
    # fast, and a streaming part's whole text is written at every checkpoint.
    return json.dumps(view.model_dump(mode="json"), separators=(",", ":"), default=str)
