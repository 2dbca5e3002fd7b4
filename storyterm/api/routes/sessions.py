"""/api/langchain/sessions: list, read, move between statuses, delete, save to files."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.rules import CURSOR_PATTERN, NO_NUL_PATTERN, matches
from storyterm.api.schemas import (
    Part,
    SaveRequest,
    SaveResponse,
    SessionDetail,
    SessionOut,
    SessionPage,
)
from storyterm.core.export import export_session
from storyterm.core.storage.cache import TAIL_PARTS
from storyterm.core.views import read_cursor
from storyterm.errors import InvalidInput

router = APIRouter(prefix="/api/langchain/sessions", tags=["sessions"])

NO_NUL = "must not contain NUL characters (U+0000)"
#: The highest part number there can be (parts are numbered in a 32-bit integer column).
MAX_SEQ = 2**31 - 1

SessionId = Annotated[
    str,
    Path(
        description="The session's id (as returned by start or the listing).",
        examples=["6f1c2a9e-3b4d-4c8e-9a7b-1d2e3f4a5b6c"],
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    ),
    matches(NO_NUL_PATTERN, NO_NUL),
]


CURSOR_MESSAGE = "is not a cursor this server handed out; start the listing again without it"


def _cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        read_cursor(cursor)
    except InvalidInput:
        raise PydanticCustomError("text_rule", CURSOR_MESSAGE) from None
    return cursor


@router.get(
    "",
    summary="List your sessions",
    description="Your sessions, most recently changed first, a page at a time.",
    response_model=SessionPage,
    responses=errors(401, 503),
)
def list_sessions(
    account: AccountDep,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["active", "paused", "completed", "all"] | None,
        Query(description="active, paused, completed, or all (the default)."),
    ] = None,
    search: Annotated[
        str | None,
        Query(
            description="Only sessions whose title contains this text.",
            json_schema_extra={"pattern": NO_NUL_PATTERN},
        ),
        matches(NO_NUL_PATTERN, NO_NUL),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` from the previous page.",
            json_schema_extra={"pattern": CURSOR_PATTERN},
        ),
        matches(CURSOR_PATTERN, CURSOR_MESSAGE),
        AfterValidator(_cursor),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Sessions per page, 1 to 500.")] = 50,
) -> SessionPage:
    page = runtime.sessions.list(
        account.id, status=status, search=search, cursor=cursor, limit=limit
    )
    return SessionPage(items=[SessionOut.of(s) for s in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{session_id}",
    summary="Read a session and its parts",
    description=(
        "The session with its newest parts (an interrupted generation shows as `interrupted`). "
        "Pass `before` (the `next_before` of a previous answer) to page back through older parts."
    ),
    response_model=SessionDetail,
    responses=errors(401, 404, 503),
)
def get_session(
    session_id: SessionId,
    account: AccountDep,
    runtime: RuntimeDep,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_SEQ, description="Only parts with a seq below this one."),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=TAIL_PARTS, description=f"Parts per page, 1 to {TAIL_PARTS}.")
    ] = 20,
) -> SessionDetail:
    if before is None:
        opened = runtime.sessions.open(account.id, session_id, tail=limit)
        session, parts, has_more = opened.session, opened.parts, opened.has_more_before
    else:
        session = runtime.sessions.get(account.id, session_id)
        parts = runtime.sessions.parts_before(account.id, session_id, before, limit)
        has_more = bool(parts) and parts[0].seq > 1
    return SessionDetail(
        session=SessionOut.of(session),
        parts=[Part.of(part) for part in parts],
        has_more_before=has_more,
        next_before=parts[0].seq if has_more else None,
    )


@router.post(
    "/{session_id}/pause",
    summary="Pause a session",
    description="An active session is paused; it cannot be continued until it is resumed.",
    response_model=SessionOut,
    responses=errors(401, 404, 409, 503),
)
def pause_session(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    return SessionOut.of(runtime.sessions.pause(account.id, session_id))


@router.post(
    "/{session_id}/resume",
    summary="Resume a paused session",
    response_model=SessionOut,
    responses=errors(401, 404, 409, 503),
)
def resume_session(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    return SessionOut.of(runtime.sessions.resume(account.id, session_id))


@router.post(
    "/{session_id}/complete",
    summary="Complete a session",
    description="An active or paused session is completed; a completed session is read-only.",
    response_model=SessionOut,
    responses=errors(401, 404, 409, 503),
)
def complete_session(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    return SessionOut.of(runtime.sessions.complete(account.id, session_id))


@router.delete(
    "/{session_id}",
    summary="Move a session to the trash (or delete it for good)",
    description=(
        "The story, with every part and take, goes to the trash: hidden from every list and "
        "read, and back with POST /api/langchain/trash/sessions/{session_id}/restore or undo. "
        "With `forever=true` it is deleted for good instead, from the trash or not. 409 while "
        "a part of it is being written."
    ),
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Moved to the trash, or deleted."},
        **errors(401, 404, 409, 503),
    },
)
def delete_session(
    session_id: SessionId,
    account: AccountDep,
    runtime: RuntimeDep,
    forever: Annotated[
        bool, Query(description="Delete for good (it cannot be restored or undone).")
    ] = False,
) -> Response:
    if forever:
        runtime.history.delete_forever(account.id, session_id)
    else:
        runtime.sessions.delete(account.id, session_id)
    return Response(status_code=204)


@router.post(
    "/{session_id}/save",
    summary="Save the story to files",
    description=(
        "Writes (or updates in place) the story's folder in the export directory of the "
        "machine the API runs on (the export_dir setting): `<title>-<short id>/` with the "
        "formats asked for (else the export_formats setting). Any status can be saved."
    ),
    response_model=SaveResponse,
    responses=errors(401, 404, 503),
)
def save_session(
    session_id: SessionId, account: AccountDep, runtime: RuntimeDep, body: SaveRequest | None = None
) -> SaveResponse:
    formats = (body or SaveRequest()).formats or runtime.settings.export_formats
    result = export_session(
        runtime.sessions,
        account.id,
        session_id,
        out_dir=runtime.settings.export_dir,
        formats=formats,
        author=account.username,
    )
    return SaveResponse(
        folder=str(result.folder.resolve()),
        files=[str(f.resolve()) for f in result.files],
        removed=[str(f.resolve()) for f in result.removed],
        part_count=result.part_count,
        word_count=result.word_count,
    )
