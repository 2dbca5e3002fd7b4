"""The views are msgspec Structs, and read and write data as the pydantic models they replaced.

The CLI's --json output and the Redis hot copies are what pydantic wrote, so each dump is
compared with pydantic's own for the same data (the old models are kept here as the
reference), and what pydantic converted on the way in is converted still.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

import msgspec
import pytest
from pydantic import BaseModel, ConfigDict, Field

from storyterm.core.basics import PartState, SessionStatus, TakeKind
from storyterm.core.views import (
    Account,
    OpenedSession,
    Page,
    Part,
    Session,
    ViewError,
    is_stale,
    page_cursor,
    read_cursor,
)

T = TypeVar("T")


# -- the pydantic models the views replaced, as they were -----------------------------------


class _Ref(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class RefAccount(_Ref):
    id: int
    username: str
    created_at: datetime


class RefSession(_Ref):
    """A story session as stored (no parts)."""

    id: str
    user_id: int
    title: str
    status: SessionStatus
    model_name: str | None
    session_metadata: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)
    part_count: int
    word_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None


class RefPart(_Ref):
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
    take: int = 1
    takes: int = 1
    take_kind: TakeKind = TakeKind.GENERATED
    take_from: int | None = None


class RefPage(_Ref, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class RefOpenedSession(_Ref):
    session: RefSession
    parts: list[RefPart]
    has_more_before: bool
    from_cache: bool = False


# -- data as the store, the cache and the first look hand it over ---------------------------

STAMP = datetime(2026, 11, 28, 2, 41, 33, 103731, tzinfo=UTC)
STAMPS = [
    STAMP,
    STAMP.replace(microsecond=0),
    STAMP.replace(microsecond=1),
    STAMP.astimezone(timezone(timedelta(hours=2))),
    STAMP.astimezone(timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def session_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "6f1c2a9e-3b4d-4c8e-9a7b-1d2e3f4a5b6c",
        "user_id": 7,
        "title": "The Keeper’s Letter — «draft» 🌊",
        "status": "active",
        "model_name": "gemma3:latest",
        "session_metadata": {
            "genre": "mystery",
            "characters": ["Mara", "Ilse"],
            "year": 1911,
            "weight": 0.5,
            "draft": True,
            "notes": None,
            "nested": {"a": [1, 2.5, "x", None, {"b": False}]},
        },
        "memory": {"summary": "Mara found the letter.", "upto": 12},
        "part_count": 3,
        "word_count": 1234,
        "version": 5,
        "created_at": STAMP,
        "updated_at": STAMP + timedelta(minutes=3),
        "paused_at": None,
        "completed_at": None,
    }
    row.update(changes)
    return row


def part_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 42,
        "session_id": "6f1c2a9e-3b4d-4c8e-9a7b-1d2e3f4a5b6c",
        "seq": 3,
        "direction": "Mara reads the letter aloud",
        "content": "The wind came in off the sea.\n\n“Read it,” she said. 🌊",
        "model_name": "gemma3:latest",
        "state": "done",
        "word_count": 12,
        "prompt_tokens": 812,
        "completion_tokens": 96,
        "created_at": STAMP,
        "updated_at": STAMP.replace(microsecond=0),
    }
    row.update(changes)
    return row


SESSION_ROWS = [
    session_row(),
    session_row(session_metadata={}, memory={}, model_name=None, part_count=0, word_count=0),
    session_row(status="paused", paused_at=STAMP + timedelta(hours=1)),
    session_row(status="completed", completed_at=STAMP.replace(microsecond=0)),
    *(session_row(created_at=stamp, updated_at=stamp) for stamp in STAMPS),
]
PART_ROWS = [
    part_row(),
    part_row(state="streaming", prompt_tokens=None, completion_tokens=None, model_name=None),
    part_row(state="interrupted", content="", direction="", word_count=0),
    *(part_row(created_at=stamp, updated_at=stamp) for stamp in STAMPS),
]


def same_json(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Equal, key order included: the same bytes once written with json.dumps."""
    assert json.dumps(ours, ensure_ascii=False) == json.dumps(theirs, ensure_ascii=False)
    assert ours == theirs


# -- JSON out --------------------------------------------------------------------------------


@pytest.mark.parametrize("row", SESSION_ROWS)
def test_a_session_dumps_as_pydantic_dumped_it(row: dict[str, Any]) -> None:
    same_json(
        Session.model_validate(row).model_dump(mode="json"),
        RefSession.model_validate(row).model_dump(mode="json"),
    )


@pytest.mark.parametrize("row", PART_ROWS)
def test_a_part_dumps_as_pydantic_dumped_it(row: dict[str, Any]) -> None:
    ours = Part.model_validate(row)
    theirs = RefPart.model_validate(row)
    same_json(ours.model_dump(mode="json"), theirs.model_dump(mode="json"))
    # msgspec's own JSON (for a writer of bytes) is byte for byte the old model's.
    assert msgspec.json.encode(ours) == theirs.model_dump_json().encode()


def test_utc_is_written_with_z_and_microseconds_only_when_there_are_some() -> None:
    dumped = Part.model_validate(part_row()).model_dump(mode="json")
    assert dumped["created_at"] == "2026-11-28T02:41:33.103731Z"
    assert dumped["updated_at"] == "2026-11-28T02:41:33Z"
    assert dumped["state"] == "done"


def test_an_account_a_page_and_an_opened_session_dump_as_pydantic_dumped_them() -> None:
    account = {"id": 3, "username": "alice", "created_at": STAMP}
    same_json(
        Account.model_validate(account).model_dump(mode="json"),
        RefAccount.model_validate(account).model_dump(mode="json"),
    )
    sessions = [Session.model_validate(r) for r in SESSION_ROWS[:3]]
    ref_sessions = [RefSession.model_validate(r) for r in SESSION_ROWS[:3]]
    same_json(
        Page[Session](items=sessions, next_cursor="abc").model_dump(mode="json"),
        RefPage[RefSession](items=ref_sessions, next_cursor="abc").model_dump(mode="json"),
    )
    same_json(
        Page[Session](items=[]).model_dump(mode="json"),
        RefPage[RefSession](items=[]).model_dump(mode="json"),
    )
    opened = {"session": SESSION_ROWS[0], "parts": PART_ROWS[:3], "has_more_before": True}
    same_json(
        OpenedSession.model_validate(opened).model_dump(mode="json"),
        RefOpenedSession.model_validate(opened).model_dump(mode="json"),
    )


def test_the_python_dump_holds_the_same_values_as_pydantics() -> None:
    opened = {"session": SESSION_ROWS[0], "parts": PART_ROWS[:2], "has_more_before": False}
    assert (
        OpenedSession.model_validate(opened).model_dump()
        == RefOpenedSession.model_validate(opened).model_dump()
    )


def test_values_json_has_no_word_for_are_refused_as_pydantic_refused_them() -> None:
    session = Session.model_validate(session_row(memory={"odd": object()}))
    with pytest.raises(TypeError):
        session.model_dump(mode="json")
    # NaN and infinity, which JSON cannot hold, are written as null (pydantic's default).
    row = session_row(session_metadata={"x": float("nan"), "y": float("inf"), "t": (1, 2)})
    same_json(
        Session.model_validate(row).model_dump(mode="json"),
        RefSession.model_validate(row).model_dump(mode="json"),
    )


# -- data in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("row", SESSION_ROWS)
def test_a_cached_session_reads_back_equal(row: dict[str, Any]) -> None:
    """The Redis hot copy is JSON: ISO text for datetimes, values for the status."""
    session = Session.model_validate(row)
    cached = json.loads(json.dumps(session.model_dump(mode="json")))
    again = Session.model_validate(cached)
    assert again == session
    assert again.status is SessionStatus(row["status"])
    assert again.created_at.tzinfo is not None


@pytest.mark.parametrize("row", PART_ROWS)
def test_a_cached_part_reads_back_equal(row: dict[str, Any]) -> None:
    part = Part.model_validate(row)
    again = Part.model_validate(json.loads(json.dumps(part.model_dump(mode="json"))))
    assert again == part
    assert again.state is PartState(row["state"])
    assert again.model_dump(mode="json") == part.model_dump(mode="json")


def test_text_becomes_enums_and_aware_datetimes() -> None:
    part = Part.model_validate(
        part_row(state="streaming", created_at="2026-11-28T02:41:33Z", updated_at=STAMP)
    )
    assert part.state is PartState.STREAMING
    assert part.created_at == datetime(2026, 11, 28, 2, 41, 33, tzinfo=UTC)
    offset = Part.model_validate(part_row(created_at="2026-11-28T04:41:33+02:00"))
    assert offset.created_at == datetime(2026, 11, 28, 2, 41, 33, tzinfo=UTC)
    assert offset.model_dump(mode="json")["created_at"] == "2026-11-28T04:41:33+02:00"


def test_a_naive_datetime_is_taken_as_utc() -> None:
    """(pydantic kept it naive; every datetime the core stores is UTC, and is_stale compares
    with an aware now.)"""
    part = Part.model_validate(
        part_row(created_at=datetime(2026, 11, 28, 2, 41, 33), updated_at="2026-11-28 02:41:33")
    )
    assert part.created_at == part.updated_at == datetime(2026, 11, 28, 2, 41, 33, tzinfo=UTC)
    assert part.model_dump(mode="json")["created_at"] == "2026-11-28T02:41:33Z"
    assert not is_stale(part)


def test_defaults_and_nested_views() -> None:
    row = session_row()
    del row["session_metadata"], row["memory"], row["paused_at"], row["completed_at"]
    session = Session.model_validate(row)
    assert session.session_metadata == {} and session.memory == {}
    assert session.paused_at is None and session.completed_at is None
    assert Session.model_validate(row).memory is not session.memory  # not shared
    opened = OpenedSession.model_validate(
        {"session": session_row(), "parts": (part_row(), part_row(seq=4)), "has_more_before": 1}
    )
    assert isinstance(opened.session, Session)
    assert [type(p) for p in opened.parts] == [Part, Part]
    assert opened.has_more_before is True and opened.from_cache is False
    # Views already made are taken as they are.
    part = Part.model_validate(part_row())
    again = OpenedSession(session=session, parts=[part], has_more_before=False)
    assert again.parts[0] is part and again.session is session


def test_from_an_objects_attributes() -> None:
    """As pydantic's from_attributes: a SQLAlchemy row, a SQLModel object, any namespace."""
    part = Part.model_validate(SimpleNamespace(**part_row(), extra="ignored"))
    assert part == Part.model_validate(part_row())
    account = Account.model_validate(SimpleNamespace(id=1, username="a", created_at=STAMP))
    assert account.username == "a"


def test_the_constructor_takes_typed_values_and_model_validate_converts() -> None:
    """Code makes views from typed values (mypy checks the calls); data from outside goes
    through model_validate."""
    typed = part_row(state=PartState.STREAMING, created_at=STAMP.replace(microsecond=0))
    part = Part(**typed)
    assert part == Part.model_validate(
        part_row(state="streaming", created_at="2026-11-28T02:41:33Z")
    )
    # A naive datetime is taken as UTC however the view is made.
    naive = Part(**{**typed, "updated_at": datetime(2026, 11, 28, 2, 41, 33)})
    assert naive.updated_at == datetime(2026, 11, 28, 2, 41, 33, tzinfo=UTC)
    with pytest.raises(TypeError):
        Part(1, "s")  # type: ignore[misc]  # keywords only, as pydantic's


def test_every_datetime_field_is_taken_as_utc() -> None:
    """_utc_fields lists each view's datetime fields, so none is left naive."""
    for view in (Account, Session, Part):
        info = msgspec.inspect.type_info(view)
        assert isinstance(info, msgspec.inspect.StructType)
        stamps = {
            f.name
            for f in info.fields
            if isinstance(f.type, msgspec.inspect.DateTimeType)
            or (
                isinstance(f.type, msgspec.inspect.UnionType)
                and any(isinstance(t, msgspec.inspect.DateTimeType) for t in f.type.types)
            )
        }
        assert stamps and set(view._utc_fields) == stamps, view


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "finished"}, "state"),
        ({"state": None}, "state"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": None}, "created_at"),
        ({"seq": "three"}, "seq"),
        ({"seq": 2.5}, "seq"),
        ({"seq": None}, "seq"),
        ({"content": 5}, "content"),
        ({"content": None}, "content"),
        ({"prompt_tokens": "many"}, "prompt_tokens"),
    ],
)
def test_bad_values_are_refused_loudly(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field) as caught:
        Part.model_validate(part_row(**changes))
    assert isinstance(caught.value, ViewError)
    with pytest.raises(Exception):  # noqa: B017  # pydantic refused the same
        RefPart.model_validate(part_row(**changes))


def test_a_bad_field_is_named_with_where_it_is_and_missing_ones_too() -> None:
    """msgspec stops at the first bad field (pydantic listed them all): the error names the
    view, the field and its place, and keeps msgspec's error as its cause."""
    with pytest.raises(ViewError) as caught:
        Part.model_validate(part_row(seq="x", state="y"))
    assert str(caught.value) == "not a valid Part: Expected `int`, got `str` - at `$.seq`"
    assert isinstance(caught.value.__cause__, msgspec.ValidationError)
    row = part_row()
    del row["content"]
    with pytest.raises(ViewError, match="missing required field `content`"):
        Part.model_validate(row)
    with pytest.raises(ViewError, match=r"`\$\.status`"):
        Session.model_validate(session_row(status="archived"))
    with pytest.raises(ViewError, match=r"`\$\.memory`"):
        Session.model_validate(session_row(memory=["not", "a", "mapping"]))
    with pytest.raises(ViewError, match=r"`\$\.parts\[1\]`"):
        OpenedSession.model_validate(
            {"session": session_row(), "parts": [part_row(), {"seq": 2}], "has_more_before": 0}
        )
    with pytest.raises(ViewError):
        Part.model_validate(None)
    with pytest.raises(ViewError):
        Part.model_validate("a part")


def test_a_page_checks_its_items_where_their_type_is_named() -> None:
    session = Session.model_validate(session_row())
    page = Page[Session](items=[session], next_cursor=None)
    assert page.items == [session] and type(page) is Page
    read = msgspec.convert(
        {"items": [session_row()], "next_cursor": "c"}, Page[Session], strict=False
    )
    assert read == Page[Session](items=[session], next_cursor="c")
    with pytest.raises(msgspec.ValidationError, match=r"`\$\.items\[0\]\.status`"):
        msgspec.convert({"items": [session_row(status="x")]}, Page[Session], strict=False)


# -- what the rest of the code relies on ------------------------------------------------------


def test_views_are_frozen_equal_by_value_and_hashable_where_pydantics_were() -> None:
    part = Part.model_validate(part_row())
    with pytest.raises(AttributeError):
        part.seq = 9  # type: ignore[misc]
    with pytest.raises(AttributeError):
        part.anything = 1  # type: ignore[attr-defined]
    assert part == Part.model_validate(json.loads(json.dumps(part.model_dump(mode="json"))))
    assert part != Part.model_validate(part_row(seq=4))
    assert hash(part) == hash(Part.model_validate(part_row()))
    with pytest.raises(TypeError):  # dict fields: unhashable, as the pydantic model was
        hash(Session.model_validate(session_row()))
    assert repr(part).startswith("Part(id=42, session_id='6f1c2a9e")
    assert "state=<PartState.DONE: 'done'>" in repr(part)
    assert Session.model_validate(session_row()).is_writable
    assert not Session.model_validate(session_row(status="paused")).is_writable


def test_cursors_are_unchanged() -> None:
    session = Session.model_validate(
        json.loads(json.dumps(Session.model_validate(session_row()).model_dump(mode="json")))
    )
    assert read_cursor(page_cursor(session)) == (session.updated_at, session.id)
    assert page_cursor(session) == page_cursor(
        RefSession.model_validate(session_row())  # type: ignore[arg-type]
    )
