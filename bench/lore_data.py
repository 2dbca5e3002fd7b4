"""A lorebook of writer-like entries on a story of a benchmark dataset (bench/first_part.py):
the names and keys of bench/lore.py's "as writers keep one" set, through the lorebook's own
use case so the prompt reads them as a generation does."""

from __future__ import annotations

from typing import Any


def add_lorebook(runtime: Any, user_id: int, session_id: str, entries: int) -> int:
    """Add `entries` lore entries to the story; how many were added."""
    from bench.lore import _name_entries

    book = runtime.sessions.lore
    added = 0
    for entry in _name_entries()[:entries]:
        book.add(
            user_id,
            session_id,
            {
                "name": entry.name,
                "keys": list(entry.keys),
                "content": entry.content,
                "priority": entry.priority,
            },
        )
        added += 1
    return added
