"""The one text boundary: what may be stored, and what may be shown on a terminal.

Two directions, one module (DESIGN.md, "The text boundary"):

- In: what no database can store (U+0000: PostgreSQL's text refuses it; lone surrogates: they
  cannot be encoded as UTF-8 at all) is *replaced* by U+FFFD in text storyterm did not type
  itself (model output, imports, Redis, files), so nothing else of it is lost, and *refused*
  in what a writer types, with a message saying what to remove. SQLite and PostgreSQL get the
  same text either way.
- Out: everything stored or generated is data. `terminal_safe` turns every control character
  into a visible symbol (ESC shows as ␛, so no escape sequence reaches a terminal) and drops
  bidirectional overrides; `export_safe` drops the controls from text files instead.

Cheap to import (re only): the CLI, the TUI's first frame and the core all use it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from storyterm.core.basics import MAX_DIRECTION, MAX_MODEL_NAME, MAX_PART, MAX_TITLE
from storyterm.errors import InvalidInput

#: What no database can store: NUL and UTF-16 surrogates (alone, they are not characters).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: C0 controls except tab and newline, DEL, and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
#: Bidirectional overrides and isolates reorder what is shown ("trojan source").
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
#: What a text file keeps out: the controls and overrides, and what cannot be encoded.
_EXPORT_DROP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")

REPLACEMENT = "\ufffd"


# -- in ------------------------------------------------------------------------------------


def scrub(text: str) -> str:
    """`text` with every character no database can store replaced by U+FFFD (model output,
    imports, anything storyterm did not ask a writer to type). Everything else is kept."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def scrub_json(value: object) -> object:
    """`scrub` applied to every string in a JSON value (keys too)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_json(k): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def unstorable(text: str) -> str | None:
    """A writer-facing description of the first character in `text` that cannot be stored, or
    None when all of it can."""
    if text.isascii() and "\x00" not in text:
        return None
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    code = ord(match.group())
    if code == 0:
        return "a NUL character (U+0000)"
    if 0xDC80 <= code <= 0xDCFF:  # how Python carries an undecodable byte (a command argument)
        return f"a byte that is not valid UTF-8 (0x{code - 0xDC00:02X})"
    return f"a broken character (a lone surrogate, U+{code:04X})"


def refuse_unstorable(text: str, what: str) -> str:
    """`text` as it is, or InvalidInput naming `what` (e.g. "The title") when it holds a
    character no database can store: text a writer typed is never changed behind their back."""
    problem = unstorable(text)
    if problem is not None:
        raise InvalidInput(
            f"{what} contains {problem}, which cannot be saved. Remove it (it is often left by "
            "a copy and paste from another program) and try again."
        )
    return text


# -- out -----------------------------------------------------------------------------------


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟ (ESC is ␛)
    if code == 0x7F:
        return "\u2421"  # ␡
    return REPLACEMENT


def terminal_safe(text: str | None) -> str:
    """`text` with every terminal control character replaced by a harmless visible symbol.

    Line breaks survive (CR LF and lone CR become LF); tabs survive; everything else that could
    move the cursor, change colours, set the window title or open an OSC sequence does not.
    Bidirectional overrides are dropped, and lone surrogates (which no terminal encoding can
    write) become U+FFFD.
    """
    if not text:
        return ""
    if text.isascii() and text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BIDI.sub("", text)
    text = _CONTROL.sub(_picture, text)
    return _UNSTORABLE.sub(REPLACEMENT, text)


def terminal_line(text: str | None) -> str:
    """`terminal_safe` text folded onto one line (titles, list rows, table cells)."""
    return " ".join(terminal_safe(text).split())


def export_safe(text: str | None) -> str:
    """`text` for a text file (Markdown, plain text, part files): line breaks normalised, tabs
    and newlines kept, every other control character and bidirectional override dropped (a
    `cat` of the file must not drive the terminal). story.json keeps the exact text."""
    if not text:
        return ""
    if text.isascii() and text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _EXPORT_DROP.sub("", text)
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean_direction(direction: Any) -> str:
    if direction is None:
        return ""
    if not isinstance(direction, str):
        raise InvalidInput("The direction must be text.")
    direction = refuse_unstorable(direction, "The direction").strip()
    if len(direction) > MAX_DIRECTION:
        raise InvalidInput(
            f"That direction is {len(direction):,} characters; keep it under {MAX_DIRECTION:,}, "
            "and put lasting facts in the story bible instead."
        )
    return direction


def clean_content(content: Any) -> str:
    """A part's text as a writer typed it: refused, never changed, when it cannot be stored."""
    if not isinstance(content, str):
        raise InvalidInput("A part's text must be text.")
    if len(content) > MAX_PART:
        raise InvalidInput(f"A part can hold at most {MAX_PART:,} characters.")
    return refuse_unstorable(content, "The part's text")


def clean_model_name(model_name: Any) -> str | None:
    """A model name as given (stripped; None for none), refused with the rule it breaks."""
    if model_name is None:
        return None
    if not isinstance(model_name, str):
        raise InvalidInput("A model name must be text, like gemma3:latest.")
    model_name = model_name.strip()
    if len(model_name) > MAX_MODEL_NAME:
        raise InvalidInput(
            f"A model name can be at most {MAX_MODEL_NAME} characters long; this one has "
            f"{len(model_name):,}. Use the name Ollama lists, like gemma3:latest."
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in model_name):
        raise InvalidInput(
            "A model name cannot hold control characters or invisible marks. Use the name "
            "Ollama lists, like gemma3:latest."
        )
    return model_name or None


def clean_title_search(search: Any) -> str | None:
    """A search of titles as given (stripped; None for none), refused when unusable."""
    if search is None:
        return None
    if not isinstance(search, str):
        raise InvalidInput("A search must be text.")
    search = refuse_unstorable(search, "The search").strip()
    if len(search) > MAX_TITLE:
        raise InvalidInput(f"Titles are at most {MAX_TITLE} characters; shorten the search.")
    return search or None
