"""/api/langchain/sessions/{id}/lore: a story's lorebook - list, add, change, delete (kept:
restore brings it back).

The request bodies state core/memory/lore.py's limits, so what the document calls valid is what
the core accepts: a name is plain text, a key has no control characters, and when `regex` is
true every key is a regular expression (JSON Schema's `format: regex`). Changing only the keys
of a regex entry to something that is not a regular expression (or turning `regex` on over keys
that are not) conflicts with the entry as it is: 409, saying which key.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.routes.sessions import SessionId
from storyterm.api.rules import (
    CONTROL_RANGES,
    FORMAT_RANGES,
    NAME_PATTERN,
    SPACE_RANGES,
    TITLE_PATTERN,
    char_class,
    rule,
)
from storyterm.core.memory import lore as rules
from storyterm.core.memory.state import MemoryState
from storyterm.core.views import LoreEntry
from storyterm.errors import Conflict, InvalidInput

router = APIRouter(prefix="/api/langchain/sessions", tags=["lore"])

EntryId = Annotated[
    int, Path(ge=1, le=2**31 - 1, description="The entry's id (as the listing gives it).")
]


def _without(ranges: tuple[tuple[int, int], ...], holes: tuple[tuple[int, int], ...]) -> tuple:
    """`ranges` with the code points of `holes` taken out."""
    out: list[tuple[int, int]] = []
    for first, last in ranges:
        start = first
        for hole_first, hole_last in sorted(holes):
            if hole_last < start or hole_first > last:
                continue
            if hole_first > start:
                out.append((start, hole_first - 1))
            start = max(start, hole_last + 1)
        if start <= last:
            out.append((start, last))
    return tuple(out)


#: A key: no control characters or invisible marks (spaces, tabs and newlines are fine).
KEY_PATTERN = f"^[^{char_class(_without(CONTROL_RANGES + FORMAT_RANGES, SPACE_RANGES))}]*$"

if TYPE_CHECKING:
    EntryName = str
    EntryKey = str
    EntryText = str
else:
    EntryName = rule(
        TITLE_PATTERN,
        "must have words in it, without control characters (tabs, escapes) or invisible marks",
        min_length=1,
        max_length=rules.MAX_NAME,
        description=f"Who or what the entry is about: 1 to {rules.MAX_NAME} characters.",
        examples=["Mara"],
    )
    EntryKey = rule(
        KEY_PATTERN,
        "must not contain control characters or invisible marks",
        max_length=rules.MAX_KEY,
        description="A word or phrase (matched as whole words), or a regular expression when "
        "`regex` is true.",
        examples=["the keeper"],
    )
    EntryText = rule(
        NAME_PATTERN,
        "must have something besides spaces in it, and no NUL characters",
        min_length=1,
        max_length=rules.MAX_CONTENT,
        description=f"What the model should know: up to {rules.MAX_CONTENT:,} characters.",
        examples=["Mara keeps the lighthouse; she has not left the island in forty years."],
    )


def _whole(value: Any) -> Any:
    # JSON makes no difference between 2 and 2.0 (both are the integer 2); the models are
    # strict, so 2.0 is let through by hand (as api/schemas.py's PartNumber does).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Priority = Annotated[
    int, Field(ge=rules.MIN_PRIORITY, le=rules.MAX_PRIORITY), BeforeValidator(_whole)
]
#: When `regex` is true, every key must be a regular expression.
_REGEX_KEYS: JsonDict = {
    "if": {"properties": {"regex": {"const": True}}, "required": ["regex"]},
    "then": {"properties": {"keys": {"items": {"format": "regex"}}}},
}


class LoreEntryIn(BaseModel):
    """A new lore entry."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_REGEX_KEYS)

    name: EntryName
    keys: list[EntryKey] = Field(
        default_factory=list,
        max_length=rules.MAX_KEYS,
        description="What brings the entry into the prompt when it is in the direction or the "
        "recent parts. An entry without keys is sent only while it is always on.",
        examples=[["Mara", "the keeper"]],
    )
    content: EntryText
    priority: Priority = Field(default=0, description="Higher goes in first.")
    always_on: bool = Field(default=False, description="Sent with every part.")
    enabled: bool = Field(default=True, description="false: set aside, never sent.")
    regex: bool = Field(default=False, description="The keys are regular expressions.")
    case_sensitive: bool = Field(default=False, description="Keys match only in their case.")


class LoreEntryChange(BaseModel):
    """The fields to change; a field left out (or null) stays as it is."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_REGEX_KEYS)

    name: EntryName | None = None
    keys: list[EntryKey] | None = Field(default=None, max_length=rules.MAX_KEYS)
    content: EntryText | None = None
    priority: Priority | None = None
    always_on: bool | None = None
    enabled: bool | None = None
    regex: bool | None = None
    case_sensitive: bool | None = None


class LoreEntryOut(BaseModel):
    """One entry of the lorebook."""

    id: int
    name: str
    keys: list[str]
    content: str
    priority: int
    always_on: bool
    enabled: bool
    regex: bool
    case_sensitive: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = Field(
        default=None, description="Set on a deleted entry (restore brings it back)."
    )
    last_prompt: Literal["used", "left_out"] | None = Field(
        default=None,
        description="Whether the last prompt sent for the story used it, or left it out for "
        "want of room (null: it was not active then, or is newer).",
    )


class LoreBookOut(BaseModel):
    """A story's lorebook: its entries in the order they were made, and its settings."""

    session_id: str
    scan_depth: int = Field(description="How many recent parts are scanned for keys.")
    share: float = Field(description="The lorebook's share of the model's context window.")
    entries: list[LoreEntryOut]


def _out(entry: LoreEntry, last: dict[str, Any] | None = None) -> LoreEntryOut:
    mark: Literal["used", "left_out"] | None = None
    if last is not None:
        if any(i == entry.id for i, _ in last["used"]):
            mark = "used"
        elif any(i == entry.id for i, _ in last["left_out"]):
            mark = "left_out"
    data = {k: v for k, v in entry.model_dump().items() if k != "session_id"}
    return LoreEntryOut(**data, last_prompt=mark)


@router.get(
    "/{session_id}/lore",
    summary="List a story's lorebook",
    description="Every entry (deleted ones left out) and the lorebook's settings.",
    response_model=LoreBookOut,
    responses=errors(401, 404, 503),
)
def list_lore(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> LoreBookOut:
    session = runtime.sessions.get(account.id, session_id)
    state = MemoryState.from_memory(session.memory)
    entries = runtime.lore.list(account.id, session_id)
    return LoreBookOut(
        session_id=session.id,
        scan_depth=state.lore.scan_depth,
        share=state.lore.share,
        entries=[_out(e, state.last_lore) for e in entries],
    )


@router.post(
    "/{session_id}/lore",
    status_code=201,
    summary="Add a lore entry",
    description=f"At most {rules.MAX_ENTRIES:,} entries a story. 409 for a completed story.",
    response_model=LoreEntryOut,
    responses=errors(401, 404, 409, 503),
)
def add_lore(
    session_id: SessionId, body: LoreEntryIn, account: AccountDep, runtime: RuntimeDep
) -> LoreEntryOut:
    try:
        entry = runtime.lore.add(account.id, session_id, body.model_dump())
    except rules.LorebookFull as exc:
        raise Conflict(exc.message) from exc
    return _out(entry)


@router.patch(
    "/{session_id}/lore/{entry_id}",
    summary="Change a lore entry",
    description="Changes the fields given and keeps the others. 409 for a completed story, or "
    "for keys that are not regular expressions on an entry that matches by them.",
    response_model=LoreEntryOut,
    responses=errors(401, 404, 409, 503),
)
def change_lore(
    session_id: SessionId,
    entry_id: EntryId,
    body: LoreEntryChange,
    account: AccountDep,
    runtime: RuntimeDep,
) -> LoreEntryOut:
    changes = {k: getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None}
    if not changes:
        return _out(runtime.lore.get(account.id, session_id, entry_id))
    try:
        entry = runtime.lore.edit(account.id, session_id, entry_id, changes)
    except rules.BadPattern as exc:
        if not {"keys", "regex"} <= changes.keys():
            # Valid on its own; it is the entry as stored that it does not fit.
            raise Conflict(exc.message) from exc
        raise
    return _out(entry)


@router.delete(
    "/{session_id}/lore/{entry_id}",
    summary="Delete a lore entry",
    description="The entry leaves the lorebook and is kept: restore brings it back (until the "
    "trash is emptied). 409 for a completed story.",
    response_model=LoreEntryOut,
    responses=errors(401, 404, 409, 503),
)
def delete_lore(
    session_id: SessionId, entry_id: EntryId, account: AccountDep, runtime: RuntimeDep
) -> LoreEntryOut:
    return _out(runtime.lore.delete(account.id, session_id, entry_id))


@router.post(
    "/{session_id}/lore/{entry_id}/restore",
    summary="Bring a deleted lore entry back",
    description="409 when the story is completed or already holds the most entries it can.",
    response_model=LoreEntryOut,
    responses=errors(401, 404, 409, 503),
)
def restore_lore(
    session_id: SessionId, entry_id: EntryId, account: AccountDep, runtime: RuntimeDep
) -> LoreEntryOut:
    try:
        return _out(runtime.lore.restore(account.id, session_id, entry_id))
    except InvalidInput as exc:
        raise Conflict(exc.message) from exc
