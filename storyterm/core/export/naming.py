"""Names in an export folder: a readable, safe folder name from any title, and part files."""

from __future__ import annotations

import re
import unicodedata

from storyterm.core.views import Session

#: The readable part of a folder name is cut to this many characters (the id follows it).
MAX_SLUG = 60
#: A part file's name as `part_file_name` writes it: the only files besides story.* that an
#: export removes from its folder.
PART_FILE = re.compile(r"^part-(\d+)\.md$")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{n}" for n in [*range(10), "¹", "²", "³"]}
    | {f"lpt{n}" for n in [*range(10), "¹", "²", "³"]}
)
#: Letters NFKD does not take apart but that have a usual ASCII spelling.
_ASCII_SPELLING = {
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "ł": "l",
    "Ł": "L",
    "ı": "i",
    "ŧ": "t",
    "ħ": "h",
}
_APOSTROPHES = "'’ʼ`´"


def slugify(title: str, max_length: int = MAX_SLUG) -> str:
    """A folder-name-safe, readable form of any title.

    Latin letters become plain ASCII ("Café Noël" -> "cafe-noel", "Straße" -> "strasse"); letters
    with no ASCII spelling (Greek, Cyrillic, CJK, ...) are kept; everything else (emoji,
    punctuation, slashes, dots, control characters) separates words. Never empty ("story"),
    never a Windows device name, never longer than `max_length`.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", title or ""):
        if ch in _APOSTROPHES:
            continue  # "Keeper's" -> "keepers", not "keeper-s"
        if ch in _ASCII_SPELLING:
            out.append(_ASCII_SPELLING[ch])
            continue
        decomposed = unicodedata.normalize("NFKD", ch)
        ascii_part = "".join(c for c in decomposed if c.isascii())
        rest = [c for c in decomposed if not c.isascii()]
        if ascii_part and all(unicodedata.category(c).startswith("M") for c in rest):
            out.append(ascii_part if ascii_part.isalnum() else "-")
        elif unicodedata.category(ch)[0] in "LN" and ch.isprintable():
            out.append(ch)
        elif unicodedata.category(ch)[0] == "M" and out and out[-1] != "-":
            out.append(ch)  # a vowel sign or accent on a kept letter (Devanagari, Thai, ...)
        else:
            out.append("-")
    slug = re.sub(r"-+", "-", "".join(out).lower()).strip("-")
    # Characters of other scripts take up to 4 bytes each; file names are limited in bytes.
    limit = max_length
    while len(slug[:limit].encode()) > 3 * max_length:
        limit -= 1
    if len(slug) > limit:
        cut = slug[:limit]
        # End on a word boundary when one is reasonably close to the limit.
        if "-" in cut[limit // 2 :]:
            cut = cut[: cut.rindex("-")]
        slug = cut.strip("-")
    if not slug:
        return "story"
    if slug.split(".")[0] in _WINDOWS_RESERVED:
        slug = f"{slug}-story"
    return slug


def folder_name(session: Session) -> str:
    """`<slug>-<first 8 characters of the id>`: readable, and unique per session."""
    short_id = re.sub(r"[^0-9a-z]", "", session.id.lower())[:8] or "00000000"
    return f"{slugify(session.title)}-{short_id}"


def part_file_name(seq: int, width: int = 3) -> str:
    return f"part-{seq:0{width}d}.md"
