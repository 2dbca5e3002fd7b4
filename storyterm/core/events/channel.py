"""Where a writer's events live in Redis, and how each is sealed so that a listener only ever
believes an event storyterm wrote there (Redis is input like any other: DESIGN.md, "Dual
storage", 7)."""

from __future__ import annotations

import hmac
import secrets

import msgspec

from storyterm.core.events.model import Event, decode_event

#: Each entry is this many hex digits of HMAC-SHA256, then the event's JSON (as the cache's).
SEAL_LEN = 64
#: The one field of a stream entry.
FIELD = b"e"
#: The "writer" of the health stream (`...:events:health`), where health checks send a probe
#: and read it back (core/events/probe.py); no account has this id, no listener reads it.
PROBE_USER_ID = -1


class Rejected(ValueError):
    """A stream entry storyterm did not write there, or one that is not an event."""


class Channel:
    """The writers' event streams of one database: `storyterm:<namespace>:events:<user id>`,
    in the cache's namespace (core/storage/namespace.py), sealed with the database's key."""

    def __init__(self, namespace: str, mac_key: bytes | None = None) -> None:
        self.namespace = namespace
        self._mac = hmac.new(mac_key or secrets.token_bytes(32), digestmod="sha256")

    def key(self, user_id: int) -> str:
        if user_id == PROBE_USER_ID:
            return f"storyterm:{self.namespace}:events:health"
        return f"storyterm:{self.namespace}:events:{user_id}"

    def _digest(self, key: str, body: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(key.encode() + b"\0")
        mac.update(body)
        return mac.hexdigest().encode()

    def seal(self, event: Event) -> bytes:
        body = event.to_json()
        return self._digest(self.key(event.user_id), body) + body

    def open(self, user_id: int, value: object) -> Event:
        """The event in a value read from `user_id`'s stream; Rejected unless storyterm wrote
        it there, for that writer."""
        if not isinstance(value, bytes) or len(value) <= SEAL_LEN:
            raise Rejected("an entry too short to be sealed")
        body = value[SEAL_LEN:]
        if not hmac.compare_digest(self._digest(self.key(user_id), body), value[:SEAL_LEN]):
            raise Rejected("an entry storyterm did not write (its seal does not match)")
        try:
            event = decode_event(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Rejected(f"an entry that is not an event ({exc})") from exc
        if event.user_id != user_id:
            raise Rejected("another writer's event")
        return event
