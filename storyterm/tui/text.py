"""Turning stored text into something safe to show: no markup, no terminal control codes.

Everything a model or a writer wrote is data. Before it reaches a widget it goes through `safe`
(core/text.py's terminal_safe: control characters become visible symbols, so an escape sequence
shows as `␛[31m` instead of turning the terminal red) and labels are built with `plain` (a
Content, never parsed as markup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content

from storyterm.core.text import terminal_line as one_line
from storyterm.core.text import terminal_safe as safe

if TYPE_CHECKING:
    from textual.widgets import Static

__all__ = ["STATUS_WORD", "count", "one_line", "plain", "safe", "show_note"]


def plain(text: str | None, style: str = "") -> Content:
    """A Content holding `text` literally: `[bold]` stays `[bold]`."""
    content = Content(one_line(text))
    return content.stylize(style) if style else content


def show_note(static: Static, text: str) -> None:
    """Put `text` in `static` literally (stored words in it already made safe, as `one_line`
    does), unless it shows those words already: Static.update lays the whole screen out again
    even for the same words (a full layout is ~15-30 ms on a big story pane, and Enter used to
    pay for two of them before the first word)."""
    if static.content != text:
        static.update(Content(text))


def count(n: int, word: str) -> str:
    """'1 part', '12 parts', '8,412 words'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


STATUS_WORD = {"active": "active", "paused": "paused", "completed": "completed"}
