"""Searching inside stories: what a writer typed made into terms no database reads as syntax,
the writer's own parts that hold them (core/storage/search.py), and a snippet of each with
the matches marked as data.

What is searched is each story as it reads: the chosen take of every part; parts and stories in
the trash are not. Words are matched whole and ignoring case, every word of the search must be
in the part, and words in double quotes must stand together in that order. Anything that is not
a letter or a digit only separates words, so no input is ever a query-language command.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from storyterm.core.storage.search import Phrases
from storyterm.core.storage.store import Store
from storyterm.core.views import SearchHit, SearchResults, SnippetPiece
from storyterm.errors import InvalidInput

#: The longest search, in characters (so at most 250 words, each a cheap index look-up).
MAX_QUERY = 500
#: Results on a page: the default and the most one page may hold.
PAGE = 50
MAX_PAGE = 200
#: How deep paging goes (a writer refines the search long before this).
MAX_OFFSET = 10_000
#: The most matching parts find-in-story steps through.
MAX_FOUND_IN_STORY = 10_000

NOTHING_TO_SEARCH = (
    "Nothing to search for: type a word or two from the story (letters or digits; "
    "punctuation only separates words)."
)


class NothingToSearch(InvalidInput):
    """A search with no word in it (only punctuation, symbols or spaces)."""


_PHRASE_OR_CHUNK = re.compile(r'"([^"]*)"?|([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")
#: Characters around the first match a snippet shows.
_BEFORE, _AFTER = 70, 150


def parse_query(query: Any) -> list[list[str]]:
    """The phrases of a search: each a list of lower-case words. Quoted text is one phrase;
    so is an unquoted chunk like "well-known" (its words side by side). InvalidInput when it
    is not text or too long; NothingToSearch when it holds no word at all."""
    if not isinstance(query, str):
        raise InvalidInput("A search must be text.")
    if len(query) > MAX_QUERY:
        raise InvalidInput(
            f"The search is {len(query):,} characters long; keep it to {MAX_QUERY} or fewer "
            "(a few words find a part)."
        )
    text = unicodedata.normalize("NFC", query)
    phrases: list[list[str]] = []
    for match in _PHRASE_OR_CHUNK.finditer(text):
        chunk = match.group(1) if match.group(1) is not None else match.group(2)
        words = [w.lower() for w in _WORD.findall(chunk)]
        if words:
            phrases.append(words)
    if not phrases:
        raise NothingToSearch(NOTHING_TO_SEARCH)
    return phrases


def _word_pattern(words: list[str]) -> str:
    """A regex for `words` side by side as whole words (separated by anything not a letter
    or digit), as the index tokenises them."""
    inner = r"[\W_]+".join(re.escape(w) for w in words)
    return rf"(?<![^\W_]){inner}(?![^\W_])"


class Marker:
    """Finds a search's words in a part's text: its patterns compiled once per search."""

    def __init__(self, phrases: Phrases) -> None:
        self._first = re.compile(_word_pattern(list(phrases[0])), re.IGNORECASE)
        words = sorted({w for p in phrases for w in p}, key=len, reverse=True)
        self._any = re.compile("|".join(_word_pattern([w]) for w in words), re.IGNORECASE)

    def snippet(self, content: str) -> list[SnippetPiece]:
        """The text around the first match in `content` (the first phrase's, else any word's),
        on one line, cut at word boundaries, every searched word in it marked."""
        where = self._first.search(content) or self._any.search(content)
        at, after = (where.start(), where.end()) if where else (0, 0)
        start = max(0, at - _BEFORE)
        if start > 0:
            space = content.find(" ", start, at)
            start = space + 1 if space != -1 else start
        end = min(len(content), after + _AFTER)
        if end < len(content):
            space = content.rfind(" ", after, end)
            end = space if space != -1 else end
        window = " ".join(content[start:end].split())
        pieces = [SnippetPiece(text="…")] if start > 0 else []
        last = 0
        for m in self._any.finditer(window):
            if m.start() > last:
                pieces.append(SnippetPiece(text=window[last : m.start()]))
            pieces.append(SnippetPiece(text=m.group(), match=True))
            last = m.end()
        if last < len(window):
            pieces.append(SnippetPiece(text=window[last:]))
        if end < len(content):
            pieces.append(SnippetPiece(text="…"))
        return _merge(pieces)


def snippet(content: str, phrases: Phrases) -> list[SnippetPiece]:
    """`Marker(phrases).snippet(content)`: one part's snippet."""
    return Marker(phrases).snippet(content)


def _merge(pieces: list[SnippetPiece]) -> list[SnippetPiece]:
    """Neighbouring pieces of the same kind as one."""
    merged: list[SnippetPiece] = []
    for piece in pieces:
        if merged and merged[-1].match == piece.match:
            merged[-1] = SnippetPiece(text=merged[-1].text + piece.text, match=piece.match)
        else:
            merged.append(piece)
    return merged


def _bounded(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low:,} to {high:,}.")
    return value


class SearchService:
    """The search use cases: a writer's stories only (another writer's story is "not found")."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def search(
        self,
        user_id: int,
        query: Any,
        *,
        session_id: str | None = None,
        limit: int = PAGE,
        offset: int = 0,
    ) -> SearchResults:
        """The parts of the writer's stories holding `query`, best first (of the newest 1,000
        that match: storage/search.py's CANDIDATES); of one story (`session_id`), in story
        order."""
        phrases = parse_query(query)
        limit = _bounded(limit, "The number of results", 1, MAX_PAGE)
        offset = _bounded(offset, "The offset", 0, MAX_OFFSET)
        if session_id is not None:
            self.store.get_session(user_id, session_id)  # NotFound unless the writer's own
        found = self.store.search.search(
            user_id, phrases, session_id=session_id, limit=limit + 1, offset=offset
        )
        marker = Marker(phrases)
        hits = [
            SearchHit(
                session_id=f.session_id, title=f.title, seq=f.seq, snippet=marker.snippet(f.content)
            )
            for f in found[:limit]
        ]
        more = len(found) > limit and offset + limit <= MAX_OFFSET
        return SearchResults(query=query, hits=hits, next_offset=offset + limit if more else None)

    def find_in_story(self, user_id: int, session_id: str, query: Any) -> list[int]:
        """The numbers of the story's parts that hold `query`, in story order (find next and
        previous in an open story)."""
        phrases = parse_query(query)
        self.store.get_session(user_id, session_id)
        return self.store.search.seqs(user_id, session_id, phrases, MAX_FOUND_IN_STORY)
