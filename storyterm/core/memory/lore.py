"""The lorebook: what an entry may be, which entries are active for the next part, and which of
those fit their share of the prompt.

An entry is active when it is enabled and one of its keys appears in the direction being sent
or in the last `scan_depth` parts (their text and their directions), or when it is "always on".
Active entries go into the prompt by priority (higher first), then by how recent their match is
(the direction first, then the newest part), within their own token budget; what does not fit
is reported (`LoreReport`), never silently dropped.

Matching is meant to be cheap at every generation: a plain key is matched as whole words (its
words must all be in the scanned text's word set before any pattern runs, and a one-word key
needs no pattern at all); a regex key is compiled once per process (and checked when the entry
is saved: a pattern that does not compile is refused there, never at generation time).

No LangChain, no database: core/memory/prompt.py calls `choose` and `fit` with its own token
estimate, and the storage keeps the entries (core/storage/lore.py).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from storyterm.core.text import refuse_unstorable
from storyterm.core.views import LoreEntry, Part
from storyterm.errors import InvalidInput

# -- limits (spelled once: the core refuses more, the TUI's inputs and the API's schemas say so)
MAX_ENTRIES = 1_000
MAX_NAME = 100
MAX_KEYS = 50
MAX_KEY = 200
MAX_CONTENT = 10_000
MIN_PRIORITY, MAX_PRIORITY = -1_000, 1_000
DEFAULT_SCAN_DEPTH = 4
MAX_SCAN_DEPTH = 50
#: The lorebook's share of the model's window (num_ctx), unless the story sets its own.
DEFAULT_SHARE = 0.15
MIN_SHARE, MAX_SHARE = 0.01, 0.5

#: The heading of the lore block in the system message.
LORE_HEADING = "# Lore (people, places and things that matter now)"

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


# -- what a writer may save ------------------------------------------------------------------


class LorebookFull(InvalidInput):
    """The story holds MAX_ENTRIES lore entries already (a state of the story: the API's 409)."""


class BadPattern(InvalidInput):
    """A key marked as a regular expression is not one."""


@dataclass(frozen=True)
class LoreDraft:
    """An entry as a writer asked for it, checked: what the storage writes."""

    name: str
    keys: tuple[str, ...]
    content: str
    priority: int = 0
    always_on: bool = False
    enabled: bool = True
    regex: bool = False
    case_sensitive: bool = False

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keys": list(self.keys),
            "content": self.content,
            "priority": self.priority,
            "always_on": self.always_on,
            "enabled": self.enabled,
            "regex": self.regex,
            "case_sensitive": self.case_sensitive,
        }


#: The fields a writer sets, in the order a form shows them.
FIELDS = ("name", "keys", "content", "priority", "always_on", "enabled", "regex", "case_sensitive")


def draft_of(entry: LoreEntry) -> LoreDraft:
    return LoreDraft(
        name=entry.name,
        keys=tuple(entry.keys),
        content=entry.content,
        priority=entry.priority,
        always_on=entry.always_on,
        enabled=entry.enabled,
        regex=entry.regex,
        case_sensitive=entry.case_sensitive,
    )


def clean_draft(values: dict[str, Any], base: LoreDraft | None = None) -> LoreDraft:
    """`values` (field -> value; the fields not named keep `base`'s) as a checked draft, or
    InvalidInput saying which field is wrong and what to do."""
    unknown = sorted(str(k) for k in values if k not in FIELDS)
    if unknown:
        raise InvalidInput(
            f"A lore entry has no field {unknown[0]!r}; its fields are {', '.join(FIELDS)}."
        )
    merged: dict[str, Any] = dict(base.columns()) if base is not None else {}
    merged.update(values)
    if "name" not in merged:
        raise InvalidInput("A lore entry needs a name: who or what it is about.")
    if "content" not in merged:
        raise InvalidInput("A lore entry needs its text: what the model should know.")
    regex = _flag(merged.get("regex", False), "regex")
    case_sensitive = _flag(merged.get("case_sensitive", False), "case_sensitive")
    always_on = _flag(merged.get("always_on", False), "always_on")
    # An entry with no keys is sent only while it is always on (the lists say so).
    keys = clean_keys(merged.get("keys", ()), regex=regex, case_sensitive=case_sensitive)
    return LoreDraft(
        name=_clean_name(merged["name"]),
        keys=keys,
        content=_clean_content(merged["content"]),
        priority=_priority(merged.get("priority", 0)),
        always_on=always_on,
        enabled=_flag(merged.get("enabled", True), "enabled"),
        regex=regex,
        case_sensitive=case_sensitive,
    )


def split_keys(text: str) -> list[str]:
    """Keys typed on one line, separated by commas (what the CLI and the TUI's form take)."""
    return [key.strip() for key in text.split(",") if key.strip()]


def clean_keys(keys: Any, *, regex: bool, case_sensitive: bool) -> tuple[str, ...]:
    """The keys as a tuple of distinct, trimmed keys; a regex that does not compile is refused
    here, at save time. (A regex matches where it matches at least one character: one that
    matches empty text, like `a*`, is not active everywhere.)"""
    if isinstance(keys, str):
        keys = split_keys(keys)
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise InvalidInput("A lore entry's keys must be a list of words or phrases.")
    out: list[str] = []
    for raw in keys:
        key = unicodedata.normalize("NFC", refuse_unstorable(raw, "A key")).strip()
        if not regex:
            key = _SPACE.sub(" ", key)
        if not key or key in out:
            continue
        if len(key) > MAX_KEY:
            raise InvalidInput(f"The key {key[:40]!r}… is too long; keep a key to {MAX_KEY}.")
        if _has_controls(key):
            raise InvalidInput(f"The key {key!r} contains control characters; type plain text.")
        if regex:
            _compile_regex(key, case_sensitive)
        out.append(key)
    if len(out) > MAX_KEYS:
        raise InvalidInput(f"A lore entry has {len(out)} keys; keep it to {MAX_KEYS} or fewer.")
    return tuple(out)


def _compile_regex(key: str, case_sensitive: bool) -> re.Pattern[str]:
    try:
        pattern = re.compile(key, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise BadPattern(
            f"The key {key!r} is not a valid regular expression ({exc}). Fix it, or turn "
            "regex off for the entry to match its keys as plain words."
        ) from None
    return pattern


def _clean_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidInput("A lore entry's name must be text.")
    name = _SPACE.sub(" ", unicodedata.normalize("NFC", refuse_unstorable(name, "The name")))
    name = name.strip()
    if not name:
        raise InvalidInput("A lore entry needs a name: who or what it is about.")
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"The name is {len(name):,} characters long; keep it to {MAX_NAME} or fewer."
        )
    if _has_controls(name):
        raise InvalidInput("The name contains control characters; type it as plain text.")
    return name


def _clean_content(content: Any) -> str:
    if not isinstance(content, str):
        raise InvalidInput("A lore entry's text must be text.")
    content = refuse_unstorable(content, "The entry's text").strip()
    if not content:
        raise InvalidInput("A lore entry needs its text: what the model should know.")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(
            f"The entry's text is {len(content):,} characters long; keep it to "
            f"{MAX_CONTENT:,} or fewer (split it into several entries)."
        )
    return content


def _priority(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("A lore entry's priority must be a whole number.")
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidInput(
            f"A lore entry's priority must be between {MIN_PRIORITY:,} and {MAX_PRIORITY:,}."
        )
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"A lore entry's {name} must be true or false.")
    return value


def _has_controls(text: str) -> bool:
    """Control characters or invisible marks (spaces, tabs and newlines are not counted: a
    plain key has them made one space, a regex may use them)."""
    return any(
        unicodedata.category(ch) in ("Cc", "Cf") and ch != "\u200d" and not ch.isspace()
        for ch in text
    )


# -- the story's own settings ----------------------------------------------------------------


@dataclass(frozen=True)
class LoreSettings:
    """How many recent parts are scanned for keys, and the lorebook's share of num_ctx."""

    scan_depth: int = DEFAULT_SCAN_DEPTH
    share: float = DEFAULT_SHARE

    @classmethod
    def stored(cls, value: Any) -> LoreSettings:
        """The settings kept in session.memory; a value of the wrong shape reads as unset."""
        if not isinstance(value, dict):
            return cls()
        depth = value.get("scan_depth")
        share = value.get("share")
        if isinstance(depth, bool) or not isinstance(depth, int):
            depth = DEFAULT_SCAN_DEPTH
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            share = DEFAULT_SHARE
        return cls(
            scan_depth=depth if 0 <= depth <= MAX_SCAN_DEPTH else DEFAULT_SCAN_DEPTH,
            share=float(share) if MIN_SHARE <= share <= MAX_SHARE else DEFAULT_SHARE,
        )

    def values(self) -> dict[str, Any]:
        """What memory keeps: only what differs from the defaults."""
        out: dict[str, Any] = {}
        if self.scan_depth != DEFAULT_SCAN_DEPTH:
            out["scan_depth"] = self.scan_depth
        if self.share != DEFAULT_SHARE:
            out["share"] = self.share
        return out


def clean_settings(
    current: LoreSettings, scan_depth: Any = None, share: Any = None
) -> LoreSettings:
    """`current` with the values given (None: unchanged), or InvalidInput."""
    if scan_depth is not None:
        if isinstance(scan_depth, bool) or not isinstance(scan_depth, int):
            raise InvalidInput("The scan depth is a whole number of parts.")
        if not 0 <= scan_depth <= MAX_SCAN_DEPTH:
            raise InvalidInput(f"The scan depth must be between 0 and {MAX_SCAN_DEPTH} parts.")
        current = LoreSettings(scan_depth, current.share)
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            raise InvalidInput("The lore budget is a share of the window, like 0.15.")
        if not MIN_SHARE <= share <= MAX_SHARE:
            raise InvalidInput(
                f"The lore budget must be between {MIN_SHARE:.0%} and {MAX_SHARE:.0%} of the "
                "window (0.01 to 0.5)."
            )
        current = LoreSettings(current.scan_depth, round(float(share), 4))
    return current


@dataclass(frozen=True)
class LoreBook:
    """What a prompt needs of a story's lorebook: its enabled entries and its settings."""

    entries: Sequence[LoreEntry]
    settings: LoreSettings = field(default_factory=LoreSettings)


# -- matching --------------------------------------------------------------------------------


class _Texts:
    """The scanned texts joined by NUL (no stored text holds one, and it is no word character
    nor space), with where each starts: a match's position says which text it is in."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.starts: list[int] = []
        at = 0
        for text in texts:
            self.starts.append(at)
            at += len(text) + 1
        self.joined = "\0".join(texts)

    def index(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1


class Window:
    """The scanned texts, most recent first, made ready for matching when a key first needs
    it: every (casefolded) word with the most recent text that has it, so a one-word key is one
    dict lookup; every pair of neighbouring words, so a phrase that is in no text is refused by
    set lookups; and the texts with every run of spaces made one space (casefolded, or not for
    case-sensitive keys), where what got through is found with str.find, its ends checked for
    whole words. The first match in the joined text lies in the most recent text with one."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = [t for t in texts if t]
        self.raw = _Texts(self.texts)

    @functools.cached_property
    def folded(self) -> _Texts:
        # str.split() and re's \s agree on what a space is; split is many times faster.
        return _Texts([" ".join(t.casefold().split()) for t in self.texts])

    @functools.cached_property
    def cased(self) -> _Texts:
        return _Texts([" ".join(t.split()) for t in self.texts])

    @functools.cached_property
    def _words(self) -> list[list[str]]:
        """Each text's casefolded words."""
        joined = self.folded.joined
        return [_WORD.findall(part) for part in joined.split("\0")] if joined else []

    @functools.cached_property
    def first(self) -> dict[str, int]:
        """Casefolded word -> the index of the most recent text holding it."""
        first: dict[str, int] = {}
        for index in range(len(self._words) - 1, -1, -1):  # the newer overwrite the older
            first.update(dict.fromkeys(self._words[index], index))
        return first

    @functools.cached_property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """Every two neighbouring casefolded words of any text."""
        return frozenset().union(*(itertools.pairwise(words) for words in self._words))

    def search(self, pattern: re.Pattern[str]) -> int | None:
        """The index of the most recent text `pattern` matches in, or None."""
        joined = self.raw.joined
        found = pattern.search(joined)
        if found is None:
            return None
        if found.end() == found.start():  # only a match of one character or more counts
            found = next((m for m in pattern.finditer(joined) if m.end() > m.start()), None)
            if found is None:
                return None
        return self.raw.index(found.start())


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"


@dataclass(frozen=True)
class _Key:
    """A compiled key. A plain one: its casefolded words (all must be in some text), its pairs
    of neighbouring words when it is a phrase of words and spaces, the text to find (spaces
    made one; casefolded unless the key keeps case), whether each of its ends must be a word
    boundary, and whether the first word alone decides (one word, any case). A regex: its
    pattern."""

    words: tuple[str, ...]
    needle: str
    bound_start: bool
    bound_end: bool
    case_sensitive: bool
    pattern: re.Pattern[str] | None = None
    pairs: tuple[tuple[str, str], ...] = ()
    one_word: bool = False

    def first_in(self, window: Window) -> int | None:
        """The index of the most recent scanned text the key is in, or None."""
        if self.pattern is not None:
            return window.search(self.pattern)
        first = window.first
        if self.one_word:
            return first.get(self.words[0])
        for word in self.words:
            if word not in first:
                return None
        if self.pairs:
            pairs = window.pairs
            for pair in self.pairs:
                if pair not in pairs:
                    return None
        texts = window.cased if self.case_sensitive else window.folded
        joined, needle = texts.joined, self.needle
        at = joined.find(needle)
        while at >= 0:
            end = at + len(needle)
            if not (self.bound_start and at > 0 and _is_word(joined[at - 1])) and not (
                self.bound_end and end < len(joined) and _is_word(joined[end])
            ):
                return texts.index(at)
            at = joined.find(needle, at + 1)
        return None


@functools.lru_cache(maxsize=8192)
def _compiled(key: str, regex: bool, case_sensitive: bool) -> _Key | None:
    """The key, compiled once per process (None: a stored regex that no longer compiles is
    skipped rather than failing a generation; saving refuses one)."""
    if regex:
        try:
            pattern = re.compile(key, 0 if case_sensitive else re.IGNORECASE)
        except re.error:
            return None
        return _Key((), "", False, False, case_sensitive, pattern)
    folded = _SPACE.sub(" ", key.casefold()).strip()
    needle = _SPACE.sub(" ", key).strip() if case_sensitive else folded
    if not needle:
        return None
    words = tuple(_WORD.findall(folded))
    phrase = len(words) > 1 and " ".join(words) == folded
    return _Key(
        words,
        needle,
        _is_word(needle[0]),
        _is_word(needle[-1]),
        case_sensitive,
        pairs=tuple(itertools.pairwise(words)) if phrase else (),
        one_word=not case_sensitive and len(words) == 1 and words[0] == folded,
    )


@functools.lru_cache(maxsize=4096)
def _entry_keys(keys: tuple[str, ...], regex: bool, case_sensitive: bool) -> tuple[_Key, ...]:
    compiled = (_compiled(key, regex, case_sensitive) for key in keys)
    return tuple(key for key in compiled if key is not None)


def matches(entry: LoreEntry, window: Window) -> int | None:
    """Where `entry` matches first in `window` (most recent first): its index, else None."""
    best: int | None = None
    for key in _entry_keys(tuple(entry.keys), entry.regex, entry.case_sensitive):
        found = key.first_in(window)
        if found is not None and (best is None or found < best):
            best = found
            if best == 0:
                break
    return best


@dataclass(frozen=True)
class Active:
    """An active entry: why (the index of the scanned text it matched, most recent first; None
    for an always-on entry matched nowhere)."""

    entry: LoreEntry
    match: int | None


def choose(entries: Iterable[LoreEntry], texts: Sequence[str]) -> list[Active]:
    """The enabled entries that are active for `texts` (most recent first: the direction, then
    the newest part), in the order they are offered room: priority, then most recent match
    (always-on entries matched nowhere after those matched), then name."""
    window = Window(texts)
    active: list[Active] = []
    for entry in entries:
        if not entry.enabled:
            continue
        where = matches(entry, window)
        if where is not None or entry.always_on:
            active.append(Active(entry, where))
    unmatched = len(window.texts)
    active.sort(
        key=lambda a: (
            -a.entry.priority,
            a.match if a.match is not None else unmatched,
            a.entry.name.casefold(),
            a.entry.id,
        )
    )
    return active


# -- fitting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoreReport:
    """Which active entries went into the prompt and which were left out for want of room
    (ids and names, in priority order), and the tokens the lore block takes."""

    used: tuple[tuple[int, str], ...] = ()
    left_out: tuple[tuple[int, str], ...] = ()
    tokens: int = 0

    def record(self) -> dict[str, Any]:
        """What session.memory keeps of it (state.py reads it back: LAST_LORE)."""
        return {
            "used": [[i, n] for i, n in self.used],
            "left_out": [[i, n] for i, n in self.left_out],
            "tokens": self.tokens,
        }


def entry_text(entry: LoreEntry) -> str:
    return f"## {entry.name}\n{entry.content.strip()}"


def fit(active: Sequence[Active], room: int, cost: Callable[[str], int]) -> tuple[str, LoreReport]:
    """The lore block for the system message (empty when nothing fits) and its report: each
    entry in turn while it fits `room` tokens; one that does not is left out and the next
    (smaller) ones still get their chance."""
    if not active:
        return "", LoreReport()
    used: list[LoreEntry] = []
    left_out: list[LoreEntry] = []
    spent = cost(LORE_HEADING) + 2
    for item in active:
        need = cost(entry_text(item.entry)) + 2
        if spent + need <= room:
            used.append(item.entry)
            spent += need
        else:
            left_out.append(item.entry)
    if not used:
        return "", LoreReport(left_out=tuple((e.id, e.name) for e in left_out))
    block = "\n\n".join([LORE_HEADING, *(entry_text(e) for e in used)])
    report = LoreReport(
        used=tuple((e.id, e.name) for e in used),
        left_out=tuple((e.id, e.name) for e in left_out),
        tokens=cost(block),
    )
    return block, report


def plan_lore(
    book: LoreBook | None,
    direction: str,
    new_seq: int,
    num_ctx: int,
    room_cap: int,
    cost: Callable[[str], int],
    read_before: Callable[[int, int], Sequence[Part]],
) -> tuple[str, LoreReport]:
    """The lore block for the prompt of part `new_seq` and its report: the entries active for
    `direction` and the `scan_depth` parts before it, fitted to the story's share of `num_ctx`
    (never more than `room_cap` tokens)."""
    if book is None or not book.entries:
        return "", LoreReport()
    depth = book.settings.scan_depth
    recent = read_before(new_seq, depth) if depth > 0 and new_seq > 1 else []
    texts = [direction, *(f"{p.direction}\n{p.content}" for p in reversed(recent))]
    room = max(0, min(int(num_ctx * book.settings.share), room_cap))
    return fit(choose(book.entries, texts), room, cost)


def describe_report(record: dict[str, Any] | None) -> str:
    """The last prompt's lore in a sentence (the context viewer's note); empty without any."""
    if not record or not (record.get("used") or record.get("left_out")):
        return ""
    used = [name for _, name in record.get("used", [])]
    left_out = [name for _, name in record.get("left_out", [])]
    said = f"Lore sent: {', '.join(used)}." if used else "No lore entry fitted."
    if left_out:
        said += f" Left out for want of room: {', '.join(left_out)}."
    return said
