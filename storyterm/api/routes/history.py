"""Nothing written is lost, over HTTP: the takes (versions) of a part, choosing and editing
them, deleting a part to the trash, undo and redo, reopening, and the trash itself.

Every call is the writer's own: another writer's story, part or trash entry is "not found"
exactly like a missing one (404), and a move the story cannot take now is 409 (a part being
written, a completed story's parts, nothing to undo, a story that is not in the trash).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.routes.sessions import SessionId
from storyterm.api.schemas import (
    MAX_NUMBER,
    EditRequest,
    HistoryStep,
    Part,
    PartTrashed,
    PartVersions,
    SessionOut,
    TrashedPart,
    TrashedStory,
    TrashList,
    Version,
)
from storyterm.core.runtime import Runtime

router = APIRouter(prefix="/api/langchain")

Seq = Annotated[
    int,
    Path(ge=1, le=MAX_NUMBER, description="The part's place in the story (1 is the first)."),
]
Number = Annotated[
    int, Path(ge=1, le=MAX_NUMBER, description="The take's number within its part (from 1).")
]
TrashId = Annotated[
    int,
    Path(ge=1, le=MAX_NUMBER, description="The part's number in the trash (its `trash_id`)."),
]

PART = "/sessions/{session_id}/parts/{seq}"


# -- takes ---------------------------------------------------------------------------------


@router.get(
    PART + "/versions",
    tags=["takes"],
    summary="List the takes of a part",
    description="Every take (version) of the part, by number; `chosen` is the one the story tells.",
    response_model=PartVersions,
    responses=errors(401, 404, 503),
)
def list_versions(
    session_id: SessionId, seq: Seq, account: AccountDep, runtime: RuntimeDep
) -> PartVersions:
    takes = runtime.history.takes(account.id, session_id, seq)
    return PartVersions(
        session_id=session_id,
        seq=seq,
        chosen=next(t.number for t in takes if t.chosen),
        versions=[Version.model_validate(t) for t in takes],
    )


@router.post(
    PART + "/versions/{number}/choose",
    tags=["takes"],
    summary="Choose a take of a part",
    description="Take `number` becomes what the part tells (shown, exported, and what the model "
    "reads next); the take it replaces is kept. Undoable.",
    response_model=Part,
    responses=errors(401, 404, 409, 503),
)
def choose_version(
    session_id: SessionId, seq: Seq, number: Number, account: AccountDep, runtime: RuntimeDep
) -> Part:
    return Part.of(runtime.history.choose(account.id, session_id, seq, number))


@router.post(
    PART + "/versions",
    tags=["takes"],
    summary="Edit a part (a new take)",
    description="The writer's edit: a new take with the text and/or direction given, chosen; "
    "the take it was made from is kept, and undo brings it back. 201 with the part when a take "
    "was made; 200 with the part as it was when nothing changed.",
    status_code=201,
    response_model=Part,
    responses={
        200: {"model": Part, "description": "Nothing changed: no take was made."},
        **errors(401, 404, 409, 503),
    },
)
def edit_part(
    session_id: SessionId,
    seq: Seq,
    body: EditRequest,
    account: AccountDep,
    runtime: RuntimeDep,
    response: Response,
) -> Part:
    before = runtime.sessions.get_part(account.id, session_id, seq)
    part = runtime.history.edit(
        account.id, session_id, seq, content=body.content, direction=body.direction
    )
    if (part.take, part.takes) == (before.take, before.takes):
        response.status_code = 200
    return Part.of(part)


@router.delete(
    PART,
    tags=["trash"],
    summary="Move a part to the trash",
    description="The part, with all its takes, goes to the trash; the parts after it move up "
    "one place. Restore it with its `trash_id`, or undo.",
    response_model=PartTrashed,
    responses=errors(401, 404, 409, 503),
)
def delete_part(
    session_id: SessionId, seq: Seq, account: AccountDep, runtime: RuntimeDep
) -> PartTrashed:
    trash_id = runtime.history.delete_part(account.id, session_id, seq)
    session = runtime.sessions.get(account.id, session_id)
    return PartTrashed(trash_id=trash_id, session=SessionOut.of(session))


# -- undo, redo, reopen --------------------------------------------------------------------


def _step(runtime: Runtime, account_id: int, session_id: str, *, redo: bool) -> HistoryStep:
    history = runtime.history
    said = (history.redo if redo else history.undo)(account_id, session_id)
    return HistoryStep(message=said, session=SessionOut.of(history.story(account_id, session_id)))


@router.post(
    "/sessions/{session_id}/undo",
    tags=["history"],
    summary="Undo the last change to a story",
    description="Takes back the writer's last change: a take chosen or edited (or written by a "
    "regenerate), a part or the story deleted, the story completed or reopened. Call it again "
    "to go further back; works on a story in the trash too (undoing its deletion). 409 when "
    "there is nothing to undo.",
    response_model=HistoryStep,
    responses=errors(401, 404, 409, 503),
)
def undo(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> HistoryStep:
    return _step(runtime, account.id, session_id, redo=False)


@router.post(
    "/sessions/{session_id}/redo",
    tags=["history"],
    summary="Redo what was undone",
    description="Does again the change the last undo took back. 409 when there is nothing to "
    "redo (a new change ends what can be redone).",
    response_model=HistoryStep,
    responses=errors(401, 404, 409, 503),
)
def redo(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> HistoryStep:
    return _step(runtime, account.id, session_id, redo=True)


@router.post(
    "/sessions/{session_id}/reopen",
    tags=["history"],
    summary="Reopen a completed story",
    description="A completed story becomes active again, its parts writable. 409 when it is "
    "not completed.",
    response_model=SessionOut,
    responses=errors(401, 404, 409, 503),
)
def reopen_session(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    return SessionOut.of(runtime.history.reopen(account.id, session_id))


# -- the trash -----------------------------------------------------------------------------


@router.get(
    "/trash",
    tags=["trash"],
    summary="List the trash",
    description="Deleted stories and parts, most recently deleted first. What has been there "
    "longer than `trash_days` is deleted for good when the trash is looked at.",
    response_model=TrashList,
    responses=errors(401, 503),
)
def list_trash(account: AccountDep, runtime: RuntimeDep) -> TrashList:
    items = runtime.history.trash(account.id)
    return TrashList(
        stories=[TrashedStory.of(item) for item in items if item.kind == "story"],
        parts=[TrashedPart.of(item) for item in items if item.kind != "story"],
        trash_days=runtime.settings.trash_days,
    )


@router.post(
    "/trash/sessions/{session_id}/restore",
    tags=["trash"],
    summary="Restore a story from the trash",
    description="The story comes back as it was, with every part and take. 409 when it is not "
    "in the trash.",
    response_model=SessionOut,
    responses=errors(401, 404, 409, 503),
)
def restore_session(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    return SessionOut.of(runtime.history.restore(account.id, session_id))


@router.post(
    "/trash/parts/{trash_id}/restore",
    tags=["trash"],
    summary="Restore a part from the trash",
    description="The part comes back where it stood (at the end, if the story is now shorter), "
    "with all its takes. 404 when its story is in the trash too (restore that first); 409 "
    "when the story is completed or being written.",
    response_model=Part,
    responses=errors(401, 404, 409, 503),
)
def restore_part(trash_id: TrashId, account: AccountDep, runtime: RuntimeDep) -> Part:
    return Part.of(runtime.history.restore_part(account.id, trash_id))


@router.delete(
    "/trash/parts/{trash_id}",
    tags=["trash"],
    summary="Delete a part in the trash for good",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted for good."}, **errors(401, 404, 503)},
)
def delete_trashed_part(trash_id: TrashId, account: AccountDep, runtime: RuntimeDep) -> Response:
    runtime.history.delete_part_forever(account.id, trash_id)
    return Response(status_code=204)
