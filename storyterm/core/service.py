"""The use cases every front end calls: start, list, open, pause, resume, rename, write
parts, with the status rules and ownership checks in one place.

Every call takes the acting writer's user id. A session of another writer is "not found",
exactly like a missing one (the store filters every query by user id).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import math
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from storyterm.core.basics import (
    MAX_METADATA_KEY,
    MAX_METADATA_VALUE,
    MAX_TITLE,
)
from storyterm.core.events.bus import LiveText
from storyterm.core.events.model import EventKind
from storyterm.core.history import HistoryService
from storyterm.core.lorebook import LoreService
from storyterm.core.memory.lore import LoreDraft
from storyterm.core.memory.state import (
    LAST_LORE,
    MAX_COUNT,
    OPTIONS,
    MemoryState,
    well_formed,
)
from storyterm.core.memory.steering import clean_steering
from storyterm.core.sampling import clean_changes
from storyterm.core.search import SearchService
from storyterm.core.storage.cache import CacheState
from storyterm.core.storage.imports import ImportSource
from storyterm.core.storage.parts import NewPart, NewTake
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus, utcnow
from storyterm.core.text import (
    MAX_PART,
    clean_content,
    clean_direction,
    clean_model_name,
    clean_title_search,
    refuse_unstorable,
    scrub,
)
from storyterm.core.views import OpenedSession, Page, Part, Session, parse_status
from storyterm.errors import Conflict, InvalidInput, InvalidTransition


def clean_title(title: Any) -> str:
    """A title a list can show: 1-200 characters, no control characters."""
    if not isinstance(title, str):
        raise InvalidInput("The title must be text.")
    title = unicodedata.normalize("NFC", refuse_unstorable(title, "The title")).strip()
    if not title:
        raise InvalidInput("A story needs a title: type a few words to name it.")
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d" for ch in title):
        raise InvalidInput(
            "The title contains control characters (tabs, escapes or invisible marks). "
            "Type it as plain text."
        )
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            f"The title is {len(title):,} characters long; keep it to {MAX_TITLE} or fewer."
        )
    return title


def clean_metadata(metadata: Any) -> dict[str, Any]:
    """The story bible: a JSON object whose values are text, numbers, or lists of text."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput(
            'The story details must be an object, like {"genre": "mystery", "tone": "dark"}, '
            f"not {type(metadata).__name__}."
        )
    cleaned: dict[str, Any] = {}
    for key, value in metadata.items():
        name = _detail_name(key)
        if value is not None:
            cleaned[name] = _detail_value(key, value)
    return cleaned


def _detail_name(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("Every story detail needs a name (a non-empty text key).")
    refuse_unstorable(key, f"The name of the story detail {key.strip()[:40]!r}")
    if len(key) > MAX_METADATA_KEY:
        raise InvalidInput(
            f"A story detail's name is {len(key):,} characters long; keep names to "
            f"{MAX_METADATA_KEY} or fewer."
        )
    return key.strip()


def _detail_value(key: str, value: Any) -> Any:
    """One story detail's value, checked: text (stripped), a list of text, or a number."""
    if isinstance(value, str):
        value = refuse_unstorable(value, f"The story detail {key!r}").strip()
        if len(value) > MAX_METADATA_VALUE:
            raise InvalidInput(
                f"The story detail {key!r} is too long ({len(value):,} characters); keep it "
                f"under {MAX_METADATA_VALUE:,}."
            )
    elif isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise InvalidInput(f"The story detail {key!r} must be a list of text.")
        for item in value:
            refuse_unstorable(item, f"The story detail {key!r}")
        if sum(len(item) for item in value) > MAX_METADATA_VALUE:
            raise InvalidInput(
                f"The story detail {key!r} is too long; keep it under "
                f"{MAX_METADATA_VALUE:,} characters in all."
            )
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"The story detail {key!r} must be a real number, not {value}.")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        raise InvalidInput(
            f"The story detail {key!r} is a number too large to keep exactly; write it as "
            "text instead."
        )
    elif not isinstance(value, (int, float, bool)):
        raise InvalidInput(f"The story detail {key!r} must be text, a number or a list of text.")
    return value


class SessionService:
    """The session use cases, on top of the dual store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- health ---------------------------------------------------------------------------

    @property
    def cache_state(self) -> CacheState:
        return self.store.cache_state

    @property
    def database_backend(self) -> str:
        return self.store.backend

    # -- sessions -------------------------------------------------------------------------

    def start(
        self,
        user_id: int,
        title: Any,
        metadata: Any = None,
        model_name: str | None = None,
    ) -> Session:
        return self.store.create_session(
            user_id, clean_title(title), clean_metadata(metadata), clean_model_name(model_name)
        )

    def list(
        self,
        user_id: int,
        *,
        status: SessionStatus | str | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Session]:
        if not 1 <= limit <= 500:
            raise InvalidInput("Ask for between 1 and 500 sessions at a time.")
        return self.store.list_sessions(
            user_id,
            status=parse_status(status),
            search=clean_title_search(search),
            limit=limit,
            cursor=cursor,
        )

    def count(
        self, user_id: int, *, status: SessionStatus | str | None = None, search: str | None = None
    ) -> int:
        return self.store.count_sessions(
            user_id, status=parse_status(status), search=clean_title_search(search)
        )

    def get(self, user_id: int, session_id: str) -> Session:
        return self.store.get_session(user_id, session_id)

    def open(self, user_id: int, session_id: str, tail: int = 20) -> OpenedSession:
        """The session with its newest parts (an interrupted generation shows as such)."""
        return self.store.open_session(user_id, session_id, tail)

    def parts_before(
        self, user_id: int, session_id: str, before_seq: int, limit: int = 20
    ) -> builtins.list[Part]:
        return self.store.parts.before(user_id, session_id, before_seq, limit)

    def directions(self, user_id: int, session_id: str, limit: int = 100) -> builtins.list[str]:
        """The story's recent different directions, newest first (the input's history)."""
        return self.store.parts.directions(user_id, session_id, limit)

    def all_parts(self, user_id: int, session_id: str) -> builtins.list[Part]:
        return builtins.list(self.store.parts.iterate(user_id, session_id))

    def get_part(self, user_id: int, session_id: str, seq: int) -> Part:
        return self.store.parts.get(user_id, session_id, seq)

    def part_pages(
        self, user_id: int, session_id: str, size: int = 200
    ) -> Iterator[builtins.list[Part]]:
        """Every part in order, a page of `size` at a time as the database gives them
        (export): a story of any length is never held in memory whole."""
        return self.store.parts.pages(user_id, session_id, size)

    def pause(self, user_id: int, session_id: str) -> Session:
        return self.store.update_session(
            user_id,
            session_id,
            allowed_from=[SessionStatus.ACTIVE],
            status=SessionStatus.PAUSED,
            paused_at=utcnow(),
        )

    def resume(self, user_id: int, session_id: str) -> Session:
        session = self.store.update_session(
            user_id,
            session_id,
            allowed_from=[SessionStatus.PAUSED],
            status=SessionStatus.ACTIVE,
            paused_at=None,
        )
        # Warm the hot copy so the writer's next open is served from Redis.
        self.store.open_session(user_id, session_id)
        return session

    # Completing, deleting and editing keep every word and go into the undo log: they belong
    # to the history (core/history.py), reached from here too.

    @functools.cached_property
    def history(self) -> HistoryService:
        return HistoryService(self.store)

    @functools.cached_property
    def searching(self) -> SearchService:
        """Searching inside the writer's stories (core/search.py)."""
        return SearchService(self.store)

    @functools.cached_property
    def lore(self) -> LoreService:
        """The story's lorebook (core/lorebook.py)."""
        return LoreService(self)

    def complete(self, user_id: int, session_id: str) -> Session:
        return self.history.complete(user_id, session_id)

    def delete(self, user_id: int, session_id: str) -> Session:
        """Move the story to the trash (restorable; `history.delete_forever` removes it)."""
        return self.history.delete(user_id, session_id)

    def edit_part(
        self, user_id: int, session_id: str, seq: int, *, content: Any = None, direction: Any = None
    ) -> Part:
        """The writer's edit, kept as a new take of the part (the old take stays)."""
        return self.history.edit(user_id, session_id, seq, content=content, direction=direction)

    def rename(self, user_id: int, session_id: str, title: Any) -> Session:
        return self.store.update_session(
            user_id, session_id, allowed_from=_EDITABLE, title=clean_title(title)
        )

    def update_metadata(self, user_id: int, session_id: str, metadata: Any) -> Session:
        return self.store.update_session(
            user_id, session_id, allowed_from=_EDITABLE, session_metadata=clean_metadata(metadata)
        )

    def update_memory(
        self,
        user_id: int,
        session_id: str,
        memory: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Session:
        if not isinstance(memory, dict):
            raise InvalidInput("The story memory must be an object.")
        return self.store.update_session(
            user_id,
            session_id,
            expected_version=expected_version,
            allowed_from=_EDITABLE,
            memory=memory,
        )

    def merge_memory(
        self, user_id: int, session_id: str, changes: dict[str, Any], best_effort: bool = False
    ) -> Session:
        """Merge `changes` into the story's memory without losing a change made elsewhere in
        the meantime (read and written under the row's lock, one transaction). With
        `best_effort`, a story that cannot take the change now (completed) is returned as it
        is instead of raising."""
        try:
            return self.store.update_session(
                user_id, session_id, allowed_from=_EDITABLE, merge_memory=changes
            )
        except (InvalidTransition, Conflict):
            if best_effort:
                return self.get(user_id, session_id)
            raise

    def set_options(self, user_id: int, session_id: str, changes: Any) -> Session:
        """Set the story's own sampling options (`changes`: name -> a value, or None to use the
        default again; the options not named stay as they are). Every value is checked before
        anything is written; a change made elsewhere meanwhile is kept (written at a version)."""
        cleaned = clean_changes(changes)
        for _attempt in range(5):
            session = self.get(user_id, session_id)
            own = MemoryState.from_memory(session.memory).options
            wanted = own.changed(cleaned).values()
            if wanted == (session.memory or {}).get(OPTIONS, {}):
                return session
            memory = {**(session.memory or {}), OPTIONS: wanted}
            try:
                return self.update_memory(
                    user_id, session_id, memory, expected_version=session.version
                )
            except Conflict:
                continue
        raise Conflict("The story kept changing while its options were saved. Try again.")

    def set_steering(self, user_id: int, session_id: str, changes: Any) -> Session:
        """Set the story's author's note, its depth and its instructions (`changes`: name -> a
        value, or None for the default again; those not named stay). Checked before anything
        is written; a change made elsewhere meanwhile is kept (written at a version)."""
        cleaned = clean_steering(changes)
        for _attempt in range(5):
            session = self.get(user_id, session_id)
            memory = dict(session.memory or {})
            for name, value in cleaned.items():
                if value is None:
                    memory.pop(name, None)
                else:
                    memory[name] = value
            if memory == (session.memory or {}):
                return session
            try:
                # Heard as the bible changing (the writer's own words), not as the memory's
                # bookkeeping that every generation changes and `watch` leaves unsaid.
                return self.store.update_session(
                    user_id,
                    session_id,
                    expected_version=session.version,
                    allowed_from=_EDITABLE,
                    memory=memory,
                    kind=EventKind.BIBLE_CHANGED,
                )
            except Conflict:
                continue
        raise Conflict("The story kept changing while its note was saved. Try again.")

    def set_model(self, user_id: int, session_id: str, model_name: Any) -> Session:
        model_name = clean_model_name(model_name)
        if model_name is None:
            raise InvalidInput("Name a model, like gemma3:latest.")
        return self.store.update_session(
            user_id, session_id, allowed_from=_EDITABLE, model_name=model_name
        )

    def import_session(
        self,
        user_id: int,
        *,
        title: Any,
        metadata: Any,
        memory: Any,
        model_name: Any,
        status: SessionStatus | str,
        created_at: datetime | None,
        paused_at: datetime | None,
        completed_at: datetime | None,
        parts: Sequence[NewPart],
        lore: Sequence[LoreDraft] = (),
        source: ImportSource | None = None,
        again: bool = False,
    ) -> Session:
        """A story brought back from an export, as a new session of `user_id` with every part
        exactly as it was (text, direction, state, token counts, model names, dates), and every
        take of it, the same one chosen.

        `source` (where the story came from) is remembered with it; when the writer has the
        story already (imported before, or the session it was exported from), AlreadyImported
        says which session, and nothing is written, unless `again`.

        A part that was still streaming when it was exported is nobody's generation here: it
        comes back as interrupted, which is what opening it would show anyway.
        """
        if not isinstance(memory, dict):
            raise InvalidInput("The story memory must be an object.")
        memory = well_formed(memory)
        # Which lore entries the last prompt used names them by their ids where the story was
        # exported from; the copy's entries get new ones, so the marks would point anywhere.
        memory.pop(LAST_LORE, None)
        status = parse_status(status) or SessionStatus.ACTIVE
        now = utcnow()
        if status is SessionStatus.ACTIVE:
            paused_at = None
        elif status is SessionStatus.PAUSED:
            paused_at = paused_at or now
        elif status is SessionStatus.COMPLETED:
            completed_at = completed_at or now
        cleaned = [_clean_imported_part(seq, part) for seq, part in enumerate(parts, start=1)]
        return self.store.restore_session(
            user_id,
            title=clean_title(title),
            metadata=clean_metadata(metadata),
            memory=memory,
            model_name=clean_model_name(model_name),
            status=status,
            created_at=created_at or now,
            paused_at=paused_at,
            completed_at=completed_at,
            parts=cleaned,
            lore=lore,
            source=source,
            again=again,
        )

    # -- parts ----------------------------------------------------------------------------

    def append_part(
        self,
        user_id: int,
        session_id: str,
        *,
        direction: Any,
        content: Any,
        model_name: str | None = None,
        expected_seq: int | None = None,
    ) -> Part:
        """Add a finished part (imports, scripts, tests)."""
        return self.store.parts.add(
            user_id,
            session_id,
            direction=clean_direction(direction),
            content=clean_content(content),
            model_name=model_name,
            state=PartState.DONE,
            expected_seq=expected_seq,
        )

    def begin_part(
        self,
        user_id: int,
        session_id: str,
        *,
        direction: Any,
        model_name: str | None,
        expected_seq: int | None = None,
    ) -> Part:
        """Claim the next seq for a part that is about to stream. The first client wins; a
        second one gets a Conflict before any model time is spent."""
        return self.store.parts.add(
            user_id,
            session_id,
            direction=clean_direction(direction),
            content="",
            model_name=model_name,
            state=PartState.STREAMING,
            expected_seq=expected_seq,
        )

    def checkpoint_part(
        self,
        user_id: int,
        session_id: str,
        seq: int,
        content: str,
        *,
        state: PartState = PartState.STREAMING,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        expect: Part | None = None,
        memory: dict[str, Any] | None = None,
    ) -> tuple[Part, Session]:
        """Save a streaming part's text so far (state streaming), or its end (done or
        interrupted). Returns the session too, so a generation sees a pause from elsewhere.

        `expect` is the part as the generation claimed it: if another window has replaced it
        since, Conflict is raised instead of writing over the replacement. `memory` is merged
        into the story's memory in the same transaction (as merge_memory does, best effort: a
        completed story's memory is left as it is)."""
        if len(content) > MAX_PART:
            raise InvalidInput(f"A part can hold at most {MAX_PART:,} characters.")
        return self.store.parts.write(
            user_id,
            session_id,
            seq,
            # The model's text: what cannot be stored is replaced, never a reason to lose it.
            content=scrub(content),
            state=state,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            allow_read_only=True,
            expect=expect,
            merge_memory=memory,
        )

    def let_go_part(self, user_id: int, session_id: str, seq: int, *, expect: Part) -> Part | None:
        """A part whose generation ended without its final save (its text is in a recovery
        file): marked interrupted with the text it holds (its last checkpoint), so that it no
        longer counts as being written and the story can go on at once. None, touching nothing,
        when it is no longer that generation's streaming take."""
        current = self.store.parts.get(user_id, session_id, seq)
        if current.state is not PartState.STREAMING or (current.id, current.created_at) != (
            expect.id,
            expect.created_at,
        ):
            return None
        part, _ = self.store.parts.write(
            user_id,
            session_id,
            seq,
            state=PartState.INTERRUPTED,
            allow_read_only=True,
            expect=expect,
        )
        return part

    def live_text(self, user_id: int, part: Part) -> LiveText:
        """The text of `part`, claimed for a generation, as other windows see it stream (live
        events; the text itself is saved at each checkpoint)."""
        return LiveText(self.store.events, user_id, part.session_id, part.seq, len(part.content))

    def remove_last_part(self, user_id: int, session_id: str, seq: int) -> Session:
        return self.store.parts.delete_last(user_id, session_id, seq)


_EDITABLE = [SessionStatus.ACTIVE, SessionStatus.PAUSED]


_Imported = TypeVar("_Imported", NewPart, NewTake)


def _clean_imported_part(seq: int, part: NewPart) -> NewPart:
    """An imported part and its takes, checked: the takes are numbered 1 to n, each once, and
    an edit's source is one of them."""
    numbers = sorted([part.take, *(take.number for take in part.other_takes)])
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidInput(
            f"The takes of part {seq} must be numbered 1 to {len(numbers)}, each once "
            f"(they are {', '.join(map(str, numbers))})."
        )
    for take_from in (part.take_from, *(take.take_from for take in part.other_takes)):
        if take_from is not None and not 1 <= take_from <= len(numbers):
            raise InvalidInput(
                f"A take of part {seq} says it was made from take {take_from}, which the "
                "part does not have."
            )
    return dataclasses.replace(
        _clean_imported(part), other_takes=tuple(map(_clean_imported, part.other_takes))
    )


def _clean_imported(take: _Imported) -> _Imported:
    """An imported part or take, its text checked like a writer's. A take that was still
    streaming when it was exported is nobody's generation here: it comes back interrupted."""
    for tokens in (take.prompt_tokens, take.completion_tokens):
        if tokens is not None and (
            isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= MAX_COUNT
        ):
            raise InvalidInput(f"Token counts must be whole numbers from 0 to {MAX_COUNT:,}.")
    return dataclasses.replace(
        take,
        direction=clean_direction(take.direction),
        content=clean_content(take.content),
        model_name=clean_model_name(take.model_name),
        state=(
            PartState.INTERRUPTED if take.state is PartState.STREAMING else PartState(take.state)
        ),
    )
