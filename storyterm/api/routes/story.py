"""/api/langchain/story: start a session, and continue it part by part (streamed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.schemas import ContinueRequest, SessionOut, StartRequest, StreamFrame
from storyterm.api.streaming import EventStreamResponse, Generation
from storyterm.errors import InvalidTransition

router = APIRouter(prefix="/api/langchain/story", tags=["story"])

CONTINUE_DESCRIPTION = """
Writes the next part with the story's model and streams it as server-sent events
(`text/event-stream`), each an `event:` line and one `data:` line of JSON:

- `progress` `{"message"}`: a note before the text (older parts folded into the summary, ...)
- `delta` `{"text"}`: the text written since the last `delta` (up to 25 of them a second)
- `saved` `{"seq", "state", "word_count"}`: the text so far is in the database
- `done` `{"part", "session", "prompt_tokens", "completion_tokens", "tokens_per_second",
  "done_reason"}`: the end; the part is `done`, or `interrupted` if it was stopped
- `error` `{"code", "message", "part"}`: the generation failed; `part` is what was kept

With `regenerate` the part (the newest, or `part`) is written again as a new take; the takes it
had are kept (GET /api/langchain/sessions/{id}/parts/{seq}/versions). With `finish` an
interrupted part (the newest, or `part`) is finished: the model goes on from where its text
stops, the `delta` frames carry only what is added, and the part's text with them becomes a new
take (kind `continued`); the interrupted take is kept, and undo goes back to it.

A failure before the stream starts is an ordinary error answer (404, also for a `part` the
story does not have; 409 paused or completed, being written elsewhere, nothing to write again,
`part` without `regenerate` or `finish`, `finish` of a part that was not interrupted or with
`regenerate` or a `direction`, or the story's model not installed in Ollama; 503 Ollama down).
Closing the connection stops the generation; the text written so far is kept as an interrupted
part.
"""


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


SessionId = Annotated[str, Path(description="The session's id.")]


@router.post(
    "/{session_id}/continue",
    summary="Write the next part (streamed)",
    description=CONTINUE_DESCRIPTION,
    response_class=EventStreamResponse,
    responses={
        200: {
            "model": StreamFrame,
            "description": "A stream of server-sent events (each frame as described).",
        },
        **errors(401, 404, 409, 503, streaming=True),
    },
)
async def continue_story(
    session_id: SessionId,
    body: ContinueRequest,
    account: AccountDep,
    runtime: RuntimeDep,
    request: Request,
) -> EventStreamResponse:
    if body.part is not None and not (body.regenerate or body.finish):
        raise InvalidTransition(
            "`part` picks a part to write again or to finish; send it with `regenerate: true` "
            "or `finish: true` (a new part always goes at the end)."
        )
    if body.finish and body.regenerate:
        raise InvalidTransition(
            "`finish` goes on from where an interrupted part stops and `regenerate` writes a "
            "part anew: send one of them."
        )
    if body.finish and body.direction.strip():
        raise InvalidTransition(
            "`finish` goes on with the part's own direction: leave `direction` out, or send "
            "`regenerate: true` to write the part anew with it."
        )
    storyteller = runtime.storyteller

    def events(cancel: Any) -> Any:
        return storyteller.generate(
            account.id,
            session_id,
            body.direction,
            regenerate=body.regenerate,
            finish=body.finish,
            part=body.part,
            cancel=cancel,
        )

    return await Generation(events, request.receive, request.app.state.generations).response()
