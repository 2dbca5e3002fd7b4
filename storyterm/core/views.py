"""What the core hands to front ends: immutable, typed views of sessions and parts.

The views are msgspec Structs: frozen, keyword-only, their fields visible to type checkers.
msgspec was chosen over pydantic by measurement (bench/FINDINGS.md, "Views and settings on
msgspec"): the TUI's first frame builds these views from sqlite3 rows
(core/first_look.py) before pydantic is loaded, and msgspec imports and converts in a
fraction of pydantic's time, so the first frame needs no second, lighter shape of a session.

The two calls the rest of the code makes:

- `X.model_validate(data)` takes a mapping (a database row, a JSON-decoded cache entry) or any
  object with the fields as attributes, and converts what needs converting (msgspec's lax
  mode): enum values to SessionStatus/PartState, ISO 8601 text to datetimes, mappings to nested
  views. A datetime without a zone is taken as UTC (every time the core stores is UTC). Data
  that is not a valid view raises ViewError (a ValueError) naming the field and where it is.
- `x.model_dump(mode="json")` is the view as JSON types, as the CLI's --json output and the
  Redis hot copies write it: enums as their values, datetimes in RFC 3339 with "Z" for UTC and
  microseconds only when there are some (what pydantic wrote too; tests/core/test_views.py
  compares).

The constructor checks nothing (msgspec trusts typed code; mypy checks the calls): data from
outside goes through model_validate. The API describes parts with its own pydantic model
(api/schemas.py), checked against this one by its tests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import msgspec
from msgspec.structs import force_setattr

from storyterm.core.basics import (
    STREAM_STALE_AFTER,
    PartState,
    SessionStatus,
    TakeKind,
    utcnow,
)
from storyterm.errors import InvalidInput

T = TypeVar("T")

_to_json = msgspec.json.Encoder().encode
_from_json = msgspec.json.Decoder().decode


class ViewError(ValueError):
    """Data that does not make a valid view: a damaged row or cache entry, a wrong call."""


class _View(msgspec.Struct, frozen=True, kw_only=True):
    """model_validate and model_dump for the views below."""

    #: The datetime fields of the view: one without a zone is taken as UTC.
    _utc_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._utc_fields:
            stamp = getattr(self, name)
            if stamp is not None and stamp.tzinfo is None:
                force_setattr(self, name, stamp.replace(tzinfo=UTC))

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """A view of `obj`: a mapping of the fields, or an object that has them as attributes
        (a SQLAlchemy row, a SQLModel object). Other keys and attributes are ignored."""
        if isinstance(obj, cls):
            return obj
        try:
            return msgspec.convert(obj, cls, strict=False, from_attributes=True)
        except msgspec.ValidationError as exc:
            raise ViewError(f"not a valid {cls.__name__}: {exc}") from exc

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The fields as a dict; mode="json": JSON types only (the JSON msgspec writes, read
        back: the free-form dicts come out as JSON has them, NaN as null, tuples as lists)."""
        if mode == "json":
            dumped: dict[str, Any] = _from_json(_to_json(self))
            return dumped
        if mode == "python":
            return {name: _python(getattr(self, name)) for name in self.__struct_fields__}
        raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")


def _python(value: Any) -> Any:
    if isinstance(value, _View):
        return value.model_dump()
    if type(value) is list:
        return [_python(item) for item in value]
    return value


class Account(_View, frozen=True, kw_only=True):
    """A writer's account as the front ends see it (never the password hash)."""

    id: int
    username: str
    created_at: datetime

    _utc_fields: ClassVar[tuple[str, ...]] = ("created_at",)


class Session(_View, frozen=True, kw_only=True):
    """A story session as stored (no parts)."""

    id: str
    user_id: int
    title: str
    status: SessionStatus
    model_name: str | None
    session_metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    memory: dict[str, Any] = msgspec.field(default_factory=dict)
    part_count: int
    word_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    completed_at: datetime | None = None
    #: When the story went to the trash (None: it is not in the trash).
    deleted_at: datetime | None = None

    _utc_fields: ClassVar[tuple[str, ...]] = (
        "created_at",
        "updated_at",
        "paused_at",
        "completed_at",
        "deleted_at",
    )

    @property
    def is_writable(self) -> bool:
        return self.status is SessionStatus.ACTIVE


class Part(_View, frozen=True, kw_only=True):
    """One part of a story: what the writer asked for and what the model wrote."""

    id: int
    session_id: str
    seq: int
    direction: str
    content: str
    model_name: str | None
    state: PartState
    word_count: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    updated_at: datetime
    #: The chosen take's number, how many takes the part has, what made the chosen one and the
    #: take it was made from (an edit's source).
    take: int = 1
    takes: int = 1
    take_kind: TakeKind = TakeKind.GENERATED
    take_from: int | None = None

    _utc_fields: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")


class Take(_View, frozen=True, kw_only=True):
    """One take of a part (chosen or not), as `versions` lists them."""

    number: int
    kind: TakeKind
    take_from: int | None = None
    chosen: bool
    direction: str
    content: str
    model_name: str | None
    state: PartState
    word_count: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    updated_at: datetime

    _utc_fields: ClassVar[tuple[str, ...]] = ("created_at", "updated_at")


class TrashItem(_View, frozen=True, kw_only=True):
    """Something in the trash: a whole story (`seq` None) or one of its parts."""

    #: "story" or "part".
    kind: str
    #: The story's id (for a part, the story it was deleted from).
    session_id: str
    #: The trashed part's id in the trash (None for a story).
    part_id: int | None = None
    title: str
    #: Where the part stood in its story.
    seq: int | None = None
    word_count: int
    deleted_at: datetime
    #: A few words of the part (or the story's premise) to recognise it by.
    preview: str = ""

    _utc_fields: ClassVar[tuple[str, ...]] = ("deleted_at",)


class Page(_View, Generic[T], frozen=True, kw_only=True):
    """One page of a listing; pass `next_cursor` back for the next page (None: the end).

    Its items are checked against T where the type is named: msgspec.convert(data,
    Page[Session]). Page.model_validate cannot know T and takes the items as they are."""

    items: list[T]
    next_cursor: str | None = None


class OpenedSession(_View, frozen=True, kw_only=True):
    """A session with its newest parts, as a story pane shows it."""

    session: Session
    parts: list[Part]
    #: True when older parts exist before parts[0]; fetch them with parts_before().
    has_more_before: bool
    #: Whether the parts came from the Redis hot copy (for the benchmark and the status line).
    from_cache: bool = False


def is_stale(part: Part) -> bool:
    """A part still marked streaming whose last checkpoint is older than STREAM_STALE_AFTER was
    left behind by a crashed or killed process: it is shown (and stored) as interrupted."""
    return part.state is PartState.STREAMING and utcnow() - part.updated_at > STREAM_STALE_AFTER


#: A listing cursor: the last session's updated_at (microseconds since 1970, UTC) and its id.
#: Every text of this shape is a cursor (the API's document states this pattern), so a
#: cursor is refused only when it is not of this shape.
CURSOR_PATTERN = r"^-?[0-9]{1,16}_[0-9a-f\-]{1,36}$"
_CURSOR = re.compile(r"(-?[0-9]{1,16})_([0-9a-f\-]{1,36})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def page_cursor(session: Session) -> str:
    """The cursor of the page after the one that ends with `session` (newest first)."""
    stamp = session.updated_at
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return f"{(stamp - _EPOCH) // _MICROSECOND}_{session.id}"


def read_cursor(cursor: str) -> tuple[datetime, str]:
    """(updated_at, id) of the last session before the page `cursor` asks for; InvalidInput
    for anything not of the shape page_cursor makes."""
    found = _CURSOR.fullmatch(cursor.strip())
    if found is None:
        raise InvalidInput("That page cursor is not valid; start the listing again.")
    # 16 digits of microseconds reach from 1653 to 2286: always a valid datetime.
    return _EPOCH + int(found.group(1)) * _MICROSECOND, found.group(2)


def parse_status(status: SessionStatus | str | None) -> SessionStatus | None:
    if status is None or status == "" or status == "all":
        return None
    if isinstance(status, SessionStatus):
        return status
    try:
        return SessionStatus(str(status).lower())
    except ValueError:
        raise InvalidInput(
            f"{status!r} is not a status. Use one of: active, paused, completed (or all)."
        ) from None


#: The mark a session's status shows with, in every list (CLI and TUI).
STATUS_MARK = {
    SessionStatus.ACTIVE: "●",
    SessionStatus.PAUSED: "‖",
    SessionStatus.COMPLETED: "✓",
}


def ago(when: datetime, now: datetime | None = None) -> str:
    """'just now', '5m ago', '3h ago', '2d ago', '3w ago', or the date."""
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 45:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{max(1, minutes)}m ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h ago"
    days = hours // 24
    if days < 14:
        return f"{days}d ago"
    if days < 60:
        return f"{days // 7}w ago"
    return when.strftime("%Y-%m-%d")


class SnippetPiece(_View, frozen=True, kw_only=True):
    """A run of a search result's snippet: `match` marks the words the search found. The
    front ends draw the marking their own way (the text itself is shown terminal-safe)."""

    text: str
    match: bool = False


class SearchHit(_View, frozen=True, kw_only=True):
    """A part of the writer's stories that holds what was searched for."""

    session_id: str
    title: str
    #: The part's number in its story.
    seq: int
    #: The text around the first match, on one line, cut at words ("…" where it is cut).
    snippet: list[SnippetPiece]


class SearchResults(_View, frozen=True, kw_only=True):
    """One page of search results, best first; `next_offset` asks for the next (None: no
    more)."""

    query: str
    hits: list[SearchHit]
    next_offset: int | None = None


class LoreEntry(_View, frozen=True, kw_only=True):
    """One entry of a story's lorebook (core/memory/lore.py says what each field means)."""

    id: int
    session_id: str
    name: str
    keys: list[str] = msgspec.field(default_factory=list)
    content: str
    priority: int = 0
    always_on: bool = False
    enabled: bool = True
    regex: bool = False
    case_sensitive: bool = False
    created_at: datetime
    updated_at: datetime
    #: When the entry was deleted (None: it is in the lorebook); a deleted entry can be
    #: brought back until the trash is emptied.
    deleted_at: datetime | None = None

    _utc_fields: ClassVar[tuple[str, ...]] = ("created_at", "updated_at", "deleted_at")
