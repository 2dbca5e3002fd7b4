"""What the core hands to front ends: immutable, typed views of sessions and parts.

The views are frozen dataclasses, not pydantic models: importing pydantic and building the
models cost ~80 ms of the TUI's start-up, which reads its first screen without SQLAlchemy or
pydantic (core/first_look.py). They keep the two parts of pydantic's API the code uses, with
pydantic's behaviour where it matters:

- `X.model_validate(data)` takes a mapping (a database row, a JSON-decoded cache entry) or any
  object with the fields as attributes, and converts what pydantic converted: enum values to
  SessionStatus/PartState, ISO 8601 text to an aware datetime (naive ones are taken as UTC),
  mappings to nested views. The constructor checks and converts the same way; anything it
  cannot convert raises ViewError (a ValueError) naming every bad field.
- `x.model_dump(mode="json")` writes exactly what pydantic wrote (the CLI's --json output, the
  Redis hot copies): enums as their values, datetimes as pydantic writes them
  ("2026-11-28T02:41:33.103731Z"). tests/test_views.py compares both with pydantic itself.

The API (FastAPI) uses `Part` in its response models: pydantic takes stdlib dataclasses as
field types and describes them in the OpenAPI schema as it described the models.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from storyterm.core.basics import STREAM_STALE_AFTER, PartState, SessionStatus, utcnow
from storyterm.errors import InvalidInput

T = TypeVar("T")
V = TypeVar("V", bound="_View")

_MISSING: Any = object()


class ViewError(ValueError):
    """Data that does not make a valid view: a damaged row or cache entry, a wrong call."""


Check = Callable[[Any], Any]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int):  # bool, IntEnum: as pydantic, their int
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str | bytes | bytearray):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"expected an integer, got {_show(value)}")


def _str(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a plain str, as pydantic gives for a str subclass
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    raise ValueError(f"expected text, got {_show(value)}")


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise ValueError(f"expected true or false, got {_show(value)}")


def _timestamp(seconds: float) -> datetime:
    # As pydantic: a number past 2e10 (the year 2603 in seconds) counts milliseconds.
    if not math.isfinite(seconds):
        raise ValueError(f"expected a datetime, got {seconds!r}")
    return datetime.fromtimestamp(seconds if abs(seconds) <= 2e10 else seconds / 1000, UTC)


def _parse_datetime(text: str) -> datetime | None:
    # pydantic also read a lower-case "t" and "z", and a number of seconds.
    for candidate in (text, text.upper()):
        try:
            return datetime.fromisoformat(candidate)
        except ValueError:
            pass
    try:
        return _timestamp(float(text))
    except ValueError:
        return None


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str | bytes | bytearray):
        parsed = _parse_datetime(value if isinstance(value, str) else bytes(value).decode())
        if parsed is None:
            raise ValueError(f"expected an ISO 8601 date and time, got {_show(value)}")
        stamp = parsed
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return _timestamp(value)
    else:
        raise ValueError(f"expected a datetime, got {_show(value)}")
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _enum(kind: type[Enum]) -> Check:
    values = ", ".join(str(member.value) for member in kind)

    def check(value: Any) -> Enum:
        if type(value) is kind:
            return value
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode(errors="replace")
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        raise ValueError(f"expected one of {values}, got {_show(value)}")

    return check


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {_show(value)}")
    copy = dict(value)  # a copy, as pydantic made: the view never shares the caller's dict
    for key in copy:
        if not isinstance(key, str):
            raise ValueError(f"expected text keys, got {_show(key)}")
    return copy


def _any_view(value: Any) -> Any:
    if not isinstance(value, _View):
        raise ValueError(f"expected a view (a Session, a Part, ...), got {_show(value)}")
    return value


def _list(item: Check) -> Check:
    def check(value: Any) -> list[Any]:
        if isinstance(value, str | bytes | bytearray | Mapping) or not hasattr(value, "__iter__"):
            raise ValueError(f"expected a list, got {_show(value)}")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except ValueError as exc:
                raise ValueError(f"[{index}] {exc}") from None
        return out

    return check


def _optional(inner: Check) -> Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


# -- JSON, as pydantic writes it ------------------------------------------------------------


def _json_datetime(stamp: datetime) -> str:
    """pydantic's form: ISO 8601, microseconds only when not zero, "Z" for UTC, other offsets
    to the minute."""
    if stamp.tzinfo is UTC:
        return f"{stamp.isoformat()[:-6]}Z"  # without "+00:00"
    text = stamp.replace(tzinfo=None).isoformat()
    offset = stamp.utcoffset()
    if offset is None:
        return text
    seconds = round(offset.total_seconds())
    if seconds == 0:
        return f"{text}Z"
    minutes = abs(seconds) // 60
    return f"{text}{'-' if seconds < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def _json_key(key: Any) -> str:
    if isinstance(key, Enum):
        key = key.value
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, int | float) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"a {type(key).__name__} key cannot be written as JSON")


def _json(value: Any) -> Any:
    if value is None or value is True or value is False:
        return value
    kind = type(value)
    if kind is str or kind is int:
        return value
    if isinstance(value, Enum):
        return _json(value.value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # pydantic writes NaN and inf as null
    if isinstance(value, datetime):
        return _json_datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, _View):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {_json_key(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def _python(value: Any) -> Any:
    if isinstance(value, _View):
        return value.model_dump()
    if type(value) is dict:
        return {k: _python(v) for k, v in value.items()}
    if type(value) is list:
        return [_python(v) for v in value]
    return value


# -- field kinds ----------------------------------------------------------------------------


#: Dump: a field's value (never None) -> its JSON form; None when the value already is one.
Dump = Callable[[Any], Any] | None


class _Kind(NamedTuple):
    """How a field of one type is checked and written as JSON."""

    #: A value of exactly this type needs no check (the common case, made cheap).
    exact: type | None
    check: Check
    dump: Dump


def _enum_value(member: Enum) -> Any:
    return member.value


#: The kinds of the field types the views use, by annotation.
_KINDS = {
    "int": _Kind(int, _int, None),
    "str": _Kind(str, _str, None),
    "bool": _Kind(bool, _bool, None),
    "datetime": _Kind(None, _datetime, _json_datetime),
    "dict[str, Any]": _Kind(None, _dict, _json),
    "SessionStatus": _Kind(SessionStatus, _enum(SessionStatus), _enum_value),
    "PartState": _Kind(PartState, _enum(PartState), _enum_value),
}


def _kind_of(annotation: str) -> _Kind:
    """The kind of a field by its annotation (the module's annotations are strings). A view
    field of a type not listed here fails at import, never silently unchecked."""
    if annotation.endswith(" | None"):
        inner = _kind_of(annotation.removesuffix(" | None"))
        return _Kind(inner.exact, _optional(inner.check), inner.dump)
    if annotation.startswith("list[") and annotation.endswith("]"):
        item = annotation[5:-1]
        # Page[T] cannot know its T at run time (pydantic made a class per T): its items must
        # already be views, never raw rows that would pass unchecked.
        return _Kind(None, _list(_any_view if item == "T" else _kind_of(item).check), _json)
    if annotation in _KINDS:
        return _KINDS[annotation]
    if annotation in _VIEWS:
        return _Kind(None, _VIEWS[annotation].model_validate, _json)
    raise TypeError(f"views: no check for a field of type {annotation!r}")


# -- the views ------------------------------------------------------------------------------


class _View:
    """model_validate and model_dump for the frozen dataclasses below (set up by `_view`)."""

    __slots__ = ()
    _names: tuple[str, ...] = ()
    #: (name, exact type, check, default factory or None) of each field, for model_validate.
    _fields: tuple[tuple[str, type | None, Check, Callable[[], Any] | None], ...] = ()
    _checks: tuple[tuple[str, type | None, Check], ...] = ()
    _dumps: tuple[tuple[str, Dump], ...] = ()

    def __post_init__(self) -> None:
        errors = []
        for name, exact, check in self._checks:
            value = getattr(self, name)
            if type(value) is exact:
                continue
            try:
                new = check(value)
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                continue
            if new is not value:
                object.__setattr__(self, name, new)
        if errors:
            raise ViewError(f"not a valid {type(self).__name__}: {'; '.join(errors)}")

    @classmethod
    def model_validate(cls: type[V], obj: Any) -> V:
        """A view of `obj`: a mapping of the fields, or an object that has them as attributes
        (as pydantic's from_attributes). Other keys and attributes are ignored."""
        get: Callable[[str, Any], Any]
        if type(obj) is dict:
            get = obj.get
        elif isinstance(obj, cls):
            return obj
        elif obj is None or isinstance(obj, str | bytes | bytearray | int | float | list | tuple):
            raise ViewError(f"not a valid {cls.__name__}: got {_show(obj)}")
        elif isinstance(obj, Mapping):
            get = obj.get
        else:

            def get(name: str, missing: Any) -> Any:
                return getattr(obj, name, missing)

        # One pass that checks each value and sets it (the constructor would check again).
        view = object.__new__(cls)
        errors = []
        for name, exact, check, default in cls._fields:
            value = get(name, _MISSING)
            if value is _MISSING:
                if default is None:
                    errors.append(f"{name}: missing")
                    continue
                value = default()
            elif type(value) is not exact:
                try:
                    value = check(value)
                except ValueError as exc:
                    errors.append(f"{name}: {exc}")
                    continue
            object.__setattr__(view, name, value)
        if errors:
            raise ViewError(f"not a valid {cls.__name__}: {'; '.join(errors)}")
        return view

    def model_dump(self, *, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """The fields as a dict; mode="json": only JSON types, byte for byte pydantic's."""
        if mode == "json":
            out = {}
            for name, dump in self._dumps:
                value = getattr(self, name)
                out[name] = value if dump is None or value is None else dump(value)
            return out
        if mode == "python":
            return {name: _python(getattr(self, name)) for name in self._names}
        raise ValueError(f"mode must be 'python' or 'json', not {mode!r}")


def _frozen_setattr(self: _View, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: _View, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _default(spec: Field[Any]) -> Callable[[], Any] | None:
    if spec.default_factory is not MISSING:
        return spec.default_factory
    if spec.default is not MISSING:
        value = spec.default
        return lambda: value
    return None


#: The views by name, for fields that hold another view.
_VIEWS: dict[str, type[_View]] = {}


def _view(cls: type[V]) -> type[V]:
    """A frozen, keyword-only dataclass (fields in the order written, defaults anywhere) with
    the checks of its fields' types."""
    cls = dataclass(frozen=True, slots=True, kw_only=True)(cls)
    # Python 3.11's frozen __setattr__ of a slots dataclass names the class as it was before
    # slots were added: setting any other attribute (typing's __orig_class__, on Page[Session]())
    # fails with a TypeError from super(). Every assignment is refused, as frozen means.
    cls.__setattr__ = _frozen_setattr  # type: ignore[assignment,method-assign]
    cls.__delattr__ = _frozen_delattr  # type: ignore[assignment,method-assign]
    kinds = [(f, _kind_of(str(f.type))) for f in fields(cls)]  # type: ignore[arg-type]
    cls._names = tuple(f.name for f, _ in kinds)
    cls._fields = tuple((f.name, kind.exact, kind.check, _default(f)) for f, kind in kinds)
    cls._checks = tuple((f.name, kind.exact, kind.check) for f, kind in kinds)
    cls._dumps = tuple((f.name, kind.dump) for f, kind in kinds)
    _VIEWS[cls.__name__] = cls
    return cls


@_view
class Account(_View):
    """A writer's account as the front ends see it (never the password hash)."""

    id: int
    username: str
    created_at: datetime


@_view
class Session(_View):
    """A story session as stored (no parts)."""

    id: str
    user_id: int
    title: str
    status: SessionStatus
    model_name: str | None
    session_metadata: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    part_count: int
    word_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_writable(self) -> bool:
        return self.status is SessionStatus.ACTIVE


@_view
class Part(_View):
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


@_view
class Page(_View, Generic[T]):
    """One page of a listing; pass `next_cursor` back for the next page (None: the end)."""

    items: list[T]
    next_cursor: str | None = None


@_view
class OpenedSession(_View):
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
