"""Keys typed before the screen they are meant for is ready: kept, then typed again into it.

A writer who starts storyterm and types their username at once types into a screen that is not
there yet: the main screen waits for its boot worker to learn that nobody is logged in, and the
login form mounts and focuses its field a moment later. Keys meant for a field would otherwise be
lost, or taken as the main screen's commands (q quits). Whoever is not ready holds them, and
types them into its form once a field has the focus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events
from textual.widgets import Input, TextArea

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
        """Type the held keys again, as they would have landed had the screen been ready.

        Done at once, in this handler, so that a key typed meanwhile can only come after them:
        characters and backspace go to the focused field, tab and shift+tab move to the next
        or previous field. From the first other key on (Enter, a command key) the rest are
        sent as keys typed now, in order, for the screen's own bindings."""
        keys = self.take()
        screen = app.screen
        while keys:
            key, field = keys[0], screen.focused
            if key.key == "tab":
                screen.focus_next()
            elif key.key == "shift+tab":
                screen.focus_previous()
            elif isinstance(field, Input) and key.is_printable and key.character:
                if field.selection.is_empty:
                    field.insert_text_at_cursor(key.character)
                else:
                    field.replace(key.character, *field.selection)
            elif isinstance(field, TextArea) and key.is_printable and key.character:
                field.replace(key.character, *field.selection, maintain_selection_offset=False)
            elif isinstance(field, (Input, TextArea)) and key.key == "backspace":
                field.action_delete_left()
            else:
                break
            keys.pop(0)
        for key in keys:
            app.post_message(key)
