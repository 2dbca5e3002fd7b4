"""Are live events flowing? A probe sent through the publisher and read back from Redis.

The probe takes the same road as a writer's events: it is queued on the publisher (its thread
sends it, sealed, with XADD), and read back from the stream the way a subscriber reads (XREAD
from the position taken just before). It goes to the health stream
(`storyterm:<namespace>:events:health`), which no writer's listener reads. `storyterm doctor`
and /api/health report the answer:

- `live`: the probe came back; listeners hear changes as they happen.
- `database watch`: Redis is set up but the probe did not come back (Redis down, refusing, or
  the publisher resting after a failure); listeners watch the database every few seconds.
- `off`: no Redis is set up; listeners always watch the database.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storyterm.core.events.channel import FIELD, PROBE_USER_ID, Rejected
from storyterm.core.events.model import Event, EventKind
from storyterm.core.events.publisher import Publisher

#: How long a probe is waited for (a health check answers quickly whatever Redis does).
PROBE_SECONDS = 1.0


class LiveState(StrEnum):
    LIVE = "live"
    DATABASE_WATCH = "database_watch"
    OFF = "off"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class LiveCheck:
    """The answer: the state, what it means for a writer, and the probe's round trip."""

    state: LiveState
    detail: str
    round_trip_ms: float | None = None


def check_live_events(publisher: Publisher, timeout: float = PROBE_SECONDS) -> LiveCheck:
    """Send a probe through `publisher` and wait up to `timeout` seconds to read it back."""
    if not publisher.enabled:
        return LiveCheck(
            LiveState.OFF,
            "no Redis is set up (STORYTERM_REDIS_URL): windows see changes by watching the "
            "database every few seconds",
        )
    import redis

    channel = publisher.channel
    key = channel.key(PROBE_USER_ID)
    client: Any = None
    try:
        client = redis.Redis.from_url(
            publisher.url or "",
            socket_connect_timeout=0.5,
            socket_timeout=timeout + 1.0,
            health_check_interval=0,
            retry_on_timeout=False,
        )
        newest = client.xrevrange(key, count=1)
        position = newest[0][0] if newest else b"0-0"
        token = secrets.token_hex(8)
        started = time.perf_counter()
        publisher.publish(
            [Event(kind=EventKind.SESSION_CHANGED, user_id=PROBE_USER_ID, session_id=token)]
        )
        deadline = started + timeout
        while (left := deadline - time.perf_counter()) > 0:
            found = client.xread({key: position}, count=100, block=max(1, int(left * 1000)))
            for _key, entries in found or ():
                for entry_id, fields in entries:
                    position = entry_id
                    if _is_probe(publisher, fields.get(FIELD), token):
                        return LiveCheck(
                            LiveState.LIVE,
                            "changes reach every window as they happen",
                            round(1000 * (time.perf_counter() - started), 2),
                        )
    except (redis.RedisError, OSError, ValueError) as exc:
        why = str(exc) or exc.__class__.__name__
        return _watching(f"Redis is not reachable ({why})")
    finally:
        if client is not None:
            client.close()
    why = publisher.last_error or "Redis did not hand it back"
    return _watching(f"a probe event did not come back within {timeout:g} s ({why})")


def _is_probe(publisher: Publisher, value: object, token: str) -> bool:
    try:
        event = publisher.channel.open(PROBE_USER_ID, value)
    except Rejected:
        return False
    return event.session_id == token


def _watching(why: str) -> LiveCheck:
    return LiveCheck(
        LiveState.DATABASE_WATCH,
        f"{why}; windows see changes by watching the database every few seconds until it answers",
    )
