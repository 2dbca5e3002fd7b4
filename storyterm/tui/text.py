"""Turning stored text into something safe to show: no markup, no terminal control codes.

Everything a model or a writer wrote is data. Before it reaches a widget it goes through `safe`
(control characters become visible symbols, so an escape sequence shows as `␛[31m` instead of
turning the terminal red) and labels are built with `plain` (a Content, never parsed as markup).
"""

from __future__ import annotations

import re

from textual.content import Content

# C0 controls except tab and newline, DEL, and the C1 block: each has a visible stand-in.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
# Bidirectional overrides and isolates reorder what is shown ("trojan source"): dropped.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟ (ESC is ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def safe(text: str | None) -> str:
    """`text` with every terminal control character replaced by a harmless visible symbol.

    Line breaks survive (CR LF and lone CR become LF); tabs survive; everything else that could
    move the cursor, change colours, set the window title or open an OSC sequence does not.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BIDI.sub("", text)
    return _CONTROL.sub(_picture, text)


def one_line(text: str | None) -> str:
    """`safe` text folded onto one line (titles, list rows)."""
    return " ".join(safe(text).split())


def plain(text: str | None, style: str = "") -> Content:
    """A Content holding `text` literally: `[bold]` stays `[bold]`."""
    content = Content(one_line(text))
    return content.stylize(style) if style else content


def count(n: int, word: str) -> str:
    """'1 part', '12 parts', '8,412 words'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


STATUS_WORD = {"active": "active", "paused": "paused", "completed": "completed"}
