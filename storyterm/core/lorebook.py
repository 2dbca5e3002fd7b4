"""The lorebook use cases every front end calls: list, add, edit, delete (restorable), restore,
and the story's lore settings. Like SessionService, each call takes the acting writer's id, and
another writer's story is "not found". The rules of an entry live in core/memory/lore.py; the
rows in core/storage/lore.py."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from storyterm.core.memory.lore import (
    FIELDS,
    MAX_ENTRIES,
    LoreBook,
    LoreDraft,
    LoreSettings,
    clean_draft,
    clean_settings,
    draft_of,
)
from storyterm.core.memory.state import LORE, MemoryState
from storyterm.core.storage.lore import LoreStore
from storyterm.core.text import scrub_json
from storyterm.core.views import LoreEntry, Session
from storyterm.errors import InvalidInput

if TYPE_CHECKING:
    from storyterm.core.service import SessionService


def entry_number(value: Any) -> int:
    """An entry's id as a writer typed it."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput("A lore entry is named by its number, as the lorebook lists it.")
    return value


class LoreService:
    """A story's lorebook, with the rules the writer sees."""

    def __init__(self, sessions: SessionService) -> None:
        self.sessions = sessions
        store = sessions.store
        self.store = store
        self.rows = LoreStore(store.tx, store.cache)

    def list(self, user_id: int, session_id: str) -> builtins.list[LoreEntry]:
        return self.rows.list(user_id, session_id)

    def deleted(self, user_id: int, session_id: str) -> builtins.list[LoreEntry]:
        """The story's deleted entries (newest deletion first): what `restore` brings back."""
        return self.rows.list(user_id, session_id, deleted=True)

    def get(self, user_id: int, session_id: str, entry_id: Any) -> LoreEntry:
        return self.rows.get(user_id, session_id, entry_number(entry_id))

    def add(self, user_id: int, session_id: str, values: dict[str, Any]) -> LoreEntry:
        """A new entry from `values` (name, keys, content, and optionally priority, always_on,
        enabled, regex, case_sensitive): checked whole before anything is written."""
        if not isinstance(values, dict):
            raise InvalidInput("A lore entry must be an object of its fields.")
        return self.rows.add(user_id, session_id, clean_draft(values))

    def edit(
        self, user_id: int, session_id: str, entry_id: Any, changes: dict[str, Any]
    ) -> LoreEntry:
        """The entry with `changes` (the fields not named stay as they are)."""
        if not isinstance(changes, dict):
            raise InvalidInput("The changes to a lore entry must be an object of its fields.")
        current = self.get(user_id, session_id, entry_id)
        draft = clean_draft(changes, draft_of(current))
        return self.rows.update(user_id, session_id, current.id, draft)

    def delete(self, user_id: int, session_id: str, entry_id: Any) -> LoreEntry:
        """Take the entry out of the lorebook; `restore` brings it back until the trash is
        emptied (the trash_days setting)."""
        return self.rows.delete(
            user_id, session_id, entry_number(entry_id), keep_days=self.store.trash_days
        )

    def restore(self, user_id: int, session_id: str, entry_id: Any) -> LoreEntry:
        return self.rows.restore(user_id, session_id, entry_number(entry_id))

    # -- the story's settings -------------------------------------------------------------

    def settings(self, user_id: int, session_id: str) -> LoreSettings:
        session = self.sessions.get(user_id, session_id)
        return MemoryState.from_memory(session.memory).lore

    def set_settings(
        self, user_id: int, session_id: str, *, scan_depth: Any = None, share: Any = None
    ) -> Session:
        """How many recent parts are scanned for keys, and the lorebook's share of the window
        (None: as it is)."""
        current = self.settings(user_id, session_id)
        wanted = clean_settings(current, scan_depth, share)
        return self.sessions.merge_memory(user_id, session_id, {LORE: wanted.values()})

    # -- for a prompt ---------------------------------------------------------------------

    def book(self, session: Session) -> LoreBook:
        """What the prompt needs: the enabled entries and the story's settings. `session` is
        the writer's, as the caller read it (its ownership is not checked again)."""
        entries = [e for e in self.rows.entries(session.id) if e.enabled]
        return LoreBook(entries, MemoryState.from_memory(session.memory).lore)


class BadLore(Exception):
    """A story file's lorebook that does not hold up: where, and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


def lore_from_file(value: Any) -> tuple[LoreDraft, ...]:
    """A story.json's "lore": each entry checked as a writer's is (its text scrubbed of what
    no database can store first); none when the file has none (written before lorebooks)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadLore('field "lore"', "must be a list of lore entries")
    if len(value) > MAX_ENTRIES:
        raise BadLore(
            'field "lore"', f"holds {len(value):,} entries; a story holds {MAX_ENTRIES:,}"
        )
    drafts = []
    for index, item in enumerate(value, start=1):
        where = f"lore entry {index}"
        if not isinstance(item, dict):
            raise BadLore(where, "must be an object of the entry's fields")
        fields = {k: scrub_json(v) for k, v in item.items() if k in FIELDS}
        try:
            drafts.append(clean_draft(fields))
        except InvalidInput as exc:
            raise BadLore(where, exc.message) from None
    return tuple(drafts)
