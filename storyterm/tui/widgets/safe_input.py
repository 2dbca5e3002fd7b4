"""An Input that never hands a control character to the terminal."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input

from storyterm.core.text import terminal_safe


class SafeInput(Input):
    """Textual's Input, with every value made terminal-safe (core/text.py) whichever way it
    arrives: set from stored text, typed, or pasted. Textual draws an Input's value as it is, so
    an ESC in a stored title or a pasted string would otherwise reach the terminal raw (a
    cleared screen, a changed window title). Controls show as symbols (␛) the writer can see
    and delete. Not for passwords: they are drawn masked and must stay exactly as typed.

    Focus puts the cursor after the text instead of selecting it all (Textual's default): a
    writer coming back to a title or a kept direction adds to it, and the first key typed must
    not replace it."""

    def __init__(self, value: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("select_on_focus", False)
        super().__init__(value, **kwargs)

    def validate_value(self, value: str) -> str:
        return terminal_safe(value)
