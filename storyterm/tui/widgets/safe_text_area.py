"""A TextArea that never hands a control character to the terminal."""

from __future__ import annotations

from typing import Any

from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult

from storyterm.core.text import terminal_safe


class SafeTextArea(TextArea):
    """Textual's TextArea for stored and pasted text: what it is given, loads and receives as an
    edit (typing, paste, insert) is made terminal-safe first (core/text.py), because a TextArea
    draws its lines as they are: an ESC or OSC in a part or a model-written summary would
    otherwise clear the screen or set the window title. Controls show as symbols (␛).

    It opens with the cursor after the last character, scrolled into view: a writer opening a
    part or a bible field mostly adds to it (Textual's TextArea starts at the top left).

    With `max_length` it never holds more (Textual's TextArea has no such limit, its Input
    does): an edit that would pass it is cut to fit and the writer is told (TOO_LONG), once
    until there is room again."""

    TOO_LONG = (
        "This holds up to {limit:,} characters; {cut:,} of what you typed or pasted did not fit."
    )

    def __init__(self, text: str = "", *, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(terminal_safe(text), **kwargs)
        self.max_length = max_length
        #: The writer has been told the area is full (again once it has room).
        self._told_full = False

    def on_mount(self) -> None:
        self.move_cursor(self.document.end)
        # The lines are wrapped to the width only once the area is laid out: scroll then.
        self.call_after_refresh(self.scroll_cursor_visible)

    def load_text(self, text: str) -> None:
        self._told_full = False
        super().load_text(terminal_safe(text))

    def edit(self, edit: Edit) -> EditResult:
        edit.text = terminal_safe(edit.text)
        if self.max_length is not None:
            kept = len(self.text) - len(self.get_text_range(edit.top, edit.bottom))
            room = max(self.max_length - kept, 0)
            if len(edit.text) > room:
                cut = len(edit.text) - room
                edit.text = edit.text[:room]
                if not self._told_full:
                    self._told_full = True
                    self.notify(self.TOO_LONG.format(limit=self.max_length, cut=cut), markup=False)
            elif kept + len(edit.text) < self.max_length:
                self._told_full = False
        return super().edit(edit)
