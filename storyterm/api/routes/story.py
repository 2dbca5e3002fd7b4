"""/api/langchain/story: start a session, and continue it part by part (streamed)."""

from __future__ import annotations

from fastapi import APIRouter

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.schemas import SessionOut, StartRequest

router = APIRouter(prefix="/api/langchain/story", tags=["story"])


@router.post(
    "/start",
    summary="Start a new story session",
    description="Creates an active session with a title, an optional story bible and model.",
    status_code=201,
    response_model=SessionOut,
    responses=errors(401, 503),
)
def start_story(body: StartRequest, account: AccountDep, runtime: RuntimeDep) -> SessionOut:
    session = runtime.sessions.start(account.id, body.title, body.metadata, body.model)
    return SessionOut.of(session)
