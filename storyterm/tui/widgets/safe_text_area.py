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
    part or a bible field mostly adds to it (Textual's TextArea starts at the top left)."""

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        super().__init__(terminal_safe(text), **kwargs)

    def on_mount(self) -> None:
        self.move_cursor(self.document.end)
        # The lines are wrapped to the width only once the area is laid out: scroll then.
        self.call_after_refresh(self.scroll_cursor_visible)

    def load_text(self, text: str) -> None:
        super().load_text(terminal_safe(text))

    def edit(self, edit: Edit) -> EditResult:
        edit.text = terminal_safe(edit.text)
        return super().edit(edit)
