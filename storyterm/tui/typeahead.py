"""Keys typed before the screen they are meant for is ready: kept, then typed again into it.

A writer who starts storyterm and types their username at once types into a screen that is not
there yet: the main screen waits for its boot worker to learn that nobody is logged in, and the
login form mounts and focuses its field a moment later. Keys meant for a field would otherwise be
lost, or taken as the main screen's commands (q quits). Whoever is not ready holds them, and
replays them once its field has the focus, through the app, exactly as if typed then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events

if TYPE_CHECKING:
    from textual.app import App


class TypeAhead:
    """The keys held so far, in the order typed."""

    def __init__(self, keys: list[events.Key] | None = None) -> None:
        self.keys: list[events.Key] = list(keys or [])

    def hold(self, event: events.Key) -> None:
        """Keep `event` (a key no widget took) instead of letting the screen's bindings act."""
        event.stop()
        event.prevent_default()
        self.keys.append(events.Key(event.key, event.character))

    def take(self) -> list[events.Key]:
        """The held keys, handed on (to the screen that will replay them)."""
        keys, self.keys = self.keys, []
        return keys

    def replay(self, app: App[Any]) -> None:
        """Type the held keys again: each reaches what has the focus now, as a key typed now
        would (priority bindings first, then the focused widget)."""
        for key in self.take():
            app.post_message(key)
