"""Live events: every change to a writer's sessions, heard by every window as it happens.

Shape
- `Event` (model.py): what changed (`EventKind`: session created, renamed, status changed,
  deleted/restored/removed, memory or bible changed, part begun, text added, part saved,
  finished or interrupted, version chosen, other part changes), whose (user id), which session,
  the session's version after the change, the part's seq, and for text the text with its
  offset in the part.
- Where they come from: the storage's transactions (core/storage/transactions.py). Every write
  bumps the session's version there, so the bump notes the event in its transaction and
  `Transactions.write` hands the events to the bus only once the commit is done: a listener
  never hears of a change the database does not hold, nor of one that was rolled back. No
  use case publishes anything itself. The one exception is the text being streamed: the
  generation (core/generation/run.py) hands each piece to `EventBus.text` as the model writes
  it; it is saved at the next checkpoint (about a second later), so a text event runs ahead of
  the database by at most that, the same second a crash may lose (DESIGN.md, "Dual storage", 5).
- Transport: one Redis stream per writer, `storyterm:<namespace>:events:<user id>`, in the
  cache's namespace (core/storage/namespace.py), each entry sealed with the database's key
  (channel.py). Streams, not pub/sub: an entry id is a position, so a listener that lost its
  connection (a Redis restart, an SSE client that reconnects with Last-Event-ID) reads on from
  where it was instead of missing what happened meanwhile; a stream holds about 5,000 events
  and expires a day after its last one. Pub/sub would drop everything said while a listener
  reconnects.
- Publisher (publisher.py): a thread of its own sends what the transactions queue, in order;
  a save never waits for Redis, and while Redis is down (or slow, or gone) events are dropped,
  as the cache's writes are. Streamed text is coalesced to at most 25 events a second per part.
- Subscriber (subscriber.py): reads the writer's stream (optionally only one story's events);
  without Redis, or when Redis goes away, it falls back to the database (database_watch.py: the
  versions of the writer's sessions every ~2 s, turned into synthetic events), says which mode
  it is in (`Status`), and goes back to live as soon as Redis answers. Listeners that wait with
  asyncio (the API's SSE endpoints) read live through one hub per process (hub.py: one thread
  and one connection for all of them); the TUI and `storyterm watch` read in a thread of their
  own.

A lost event is harmless: an event only says "look again"; the version decides what is shown.
A listener that sees a version jump by more than one, or text whose offset is not the length of
its copy, reads again from the database.
"""

from __future__ import annotations

from storyterm.core.events.bus import EventBus
from storyterm.core.events.model import Event, EventKind, Mode, Status
from storyterm.core.events.subscriber import Subscriber

__all__ = ["Event", "EventBus", "EventKind", "Mode", "Status", "Subscriber"]
